{{- define "mec-app.name" -}}{{ .Chart.Name }}{{- end -}}
{{- define "mec-app.selector" -}}
app.kubernetes.io/name: {{ include "mec-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
