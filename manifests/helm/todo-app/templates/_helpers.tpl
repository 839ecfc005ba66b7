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

{{/*
The Kubernetes recommended labels, on every object and pod template. They are
added to the app's own labels and never used in a selector: the selectors stay
app=backend and app=frontend, so an installed release and manifests/base own
the same pods.
*/}}
{{- define "todo-app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The Secret the backend reads: the user's own (secret.existingSecret), or the
one the chart renders.
*/}}
{{- define "todo-app.secretName" -}}
{{- .Values.secret.existingSecret | default "todo-app-secrets" -}}
{{- end }}
