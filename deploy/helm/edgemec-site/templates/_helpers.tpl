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
{{- define "edgemec.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "edgemec.name" .) }}{{- end -}}
{{- define "edgemec.scheme" -}}{{ if .Values.mep.tls.secretName }}https{{ else }}http{{ end }}{{- end -}}
{{/* edgemec.apiRoot: the configured apiRoot, else the Service's in-cluster address (never the
     wildcard listen address, which apps cannot call). */}}
{{- define "edgemec.apiRoot" -}}
{{- .Values.mep.apiRoot | default (printf "%s://%s.%s.svc:%v" (include "edgemec.scheme" .) (include "edgemec.name" .) .Release.Namespace .Values.service.port) -}}
{{- end -}}
