{{- define "kymaprov.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kymaprov.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kymaprov.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "kymaprov.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "kymaprov.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kymaprov.postgresql.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end -}}

{{/* A value kept across upgrades: the given one, else the one in the Secret made before, else a new one. */}}
{{- define "kymaprov.kept" -}}
{{- $given := index . 0 -}}{{- $secret := index . 1 -}}{{- $key := index . 2 -}}{{- $new := index . 3 -}}
{{- if $given -}}
{{- $given -}}
{{- else if and $secret (index ($secret.data | default dict) $key) -}}
{{- index $secret.data $key | b64dec -}}
{{- else -}}
{{- $new -}}
{{- end -}}
{{- end -}}

{{- define "kymaprov.masterKeySecret" -}}
{{- .Values.masterKey.existingSecret | default (printf "%s-master-key" (include "kymaprov.fullname" .)) -}}
{{- end -}}

{{- define "kymaprov.databaseSecret" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "kymaprov.postgresql.fullname" . -}}
{{- else -}}
{{- .Values.externalDatabase.existingSecret | default (printf "%s-database" (include "kymaprov.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{- define "kymaprov.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) .Values.ingress.host -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%v" (include "kymaprov.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}
{{- end -}}

{{- define "kymaprov.kubePublicUrl" -}}
{{- .Values.kubePublicUrl | default (printf "https://%s-kube.%s.svc:%v" (include "kymaprov.fullname" .) .Release.Namespace .Values.kubeService.port) -}}
{{- end -}}
