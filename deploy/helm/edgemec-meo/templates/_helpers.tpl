{{- define "meo.name" -}}{{ printf "%s-meo" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "meo.labels" -}}
app.kubernetes.io/name: edgemec-meo
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: edgemec
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "meo.selector" -}}
app.kubernetes.io/name: edgemec-meo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "meo.secret" -}}{{ .Values.meo.existingSecret | default (include "meo.name" .) }}{{- end -}}
{{- define "meo.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "meo.name" .) }}{{- end -}}
{{- define "meo.scheme" -}}{{ if .Values.meo.tls.secretName }}https{{ else }}http{{ end }}{{- end -}}
{{/* meo.apiRoot: the configured apiRoot, else the Service's in-cluster address. */}}
{{- define "meo.apiRoot" -}}
{{- .Values.meo.apiRoot | default (printf "%s://%s.%s.svc:%v" (include "meo.scheme" .) (include "meo.name" .) .Release.Namespace .Values.service.port) -}}
{{- end -}}
{{- define "meo.pg.name" -}}{{ printf "%s-postgresql" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{/* meo.db.secret and meo.db.key: where the database URL is read from. */}}
{{- define "meo.db.secret" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecret }}{{ else }}{{ include "meo.name" . }}-db{{ end -}}
{{- end -}}
{{- define "meo.db.key" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}dsn{{ end -}}
{{- end -}}
