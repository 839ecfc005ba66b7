{{/*
An HTTP probe on the container's port: the timing fields come from values.
Call with (dict "path" .healthPath "port" .port "timing" .startupProbe).
*/}}
{{- define "todo-app.httpProbe" -}}
httpGet:
  path: {{ .path | quote }}
  port: {{ .port }}
{{ toYaml .timing }}
{{- end }}
