{{- define "upgw.name" -}}{{ printf "%s-upgw" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "upgw.labels" -}}
app.kubernetes.io/name: edgemec-upgw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: edgemec
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
edgemec.io/site: {{ .Values.site | quote }}
{{- end -}}
{{- define "upgw.selector" -}}
app.kubernetes.io/name: edgemec-upgw
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "upgw.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "upgw.name" .) }}{{- end -}}
{{/* upgw.mepURL: mep.url, else the site chart's MEP Service. */}}
{{- define "upgw.mepURL" -}}
{{- if .Values.mep.url }}{{ .Values.mep.url }}
{{- else if .Values.mep.siteRelease }}{{ printf "http://%s-mep.%s.svc:8080" .Values.mep.siteRelease .Release.Namespace }}
{{- else }}{{ fail "set mep.siteRelease (the site chart's release) or mep.url" }}
{{- end -}}
{{- end -}}
{{- define "upgw.mepSecret" -}}
{{- if .Values.mep.existingSecret }}{{ .Values.mep.existingSecret }}
{{- else if .Values.mep.siteRelease }}{{ printf "%s-mep" .Values.mep.siteRelease }}
{{- else }}{{ fail "set mep.existingSecret (a Secret with the MEP's feed-token) or mep.siteRelease" }}
{{- end -}}
{{- end -}}
