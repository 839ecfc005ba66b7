package staticcheck

// Negative rows for the credential locations SEC-2 scans besides Secrets,
// ConfigMaps, env values and annotations: labels, command lines and HTTP
// headers. They join the negative table (negative_test.go) so
// TestNegativeMutations runs them and TestEveryCredentialLocationHasANegativeCase
// sees them placed.
func init() {
	negativeCases = append(negativeCases,
		mutation{"token in an object label", def, []string{"SEC-2"}, placeAt("object label", "GitHub personal access token")},
		mutation{"token in a pod template label", per, []string{"SEC-2"}, placeAt("pod template label", "AWS access key id")},
		mutation{"token in a container's args", def, []string{"SEC-2", "BD-4"}, placeAt("container args (--key=value on the command line)", "OpenAI project key")},
		mutation{"token in a container's command", per, []string{"SEC-2", "FD-4"}, placeAt("container command", "Slack bot token")},
		mutation{"token in a probe's HTTP header", def, []string{"SEC-2", "BD-7"}, placeAt("probe HTTP header", "Stripe live secret key")},
	)
}
