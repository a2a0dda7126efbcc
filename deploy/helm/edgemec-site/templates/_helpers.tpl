{{- define "edgemec.name" -}}{{ printf "%s-mep" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "edgemec.labels" -}}
app.kubernetes.io/name: edgemec-mep
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: edgemec
edgemec.io/site: {{ .Values.site | quote }}
{{- end -}}
{{- define "edgemec.selector" -}}
app.kubernetes.io/name: edgemec-mep
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "edgemec.secret" -}}{{ .Values.mep.existingSecret | default (include "edgemec.name" .) }}{{- end -}}
