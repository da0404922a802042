{{/* Chart name, overridable with nameOverride. */}}
{{- define "forge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> (or the release alone when it holds the chart name), at most 63 characters. */}}
{{- define "forge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart label value: name-version. */}}
{{- define "forge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Objects of one component: <fullname>-<component>. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "forge.componentName" -}}
{{- printf "%s-%s" (include "forge.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the immutable subset, with the component so no Service selects another component's pods. */}}
{{- define "forge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "forge.name" .ctx | quote }}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "forge.labels" -}}
helm.sh/chart: {{ include "forge.chart" .ctx | quote }}
{{ include "forge.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: "forge"
app.kubernetes.io/managed-by: {{ .ctx.Release.Service | quote }}
{{- end }}

{{/* The pods' ServiceAccount. */}}
{{- define "forge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "forge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: existingSecret, else <fullname>-secrets. */}}
{{- define "forge.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "forge.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}
{{- end }}

{{/* Image reference: repository[:tag][@digest]. Call with an image values map. */}}
{{- define "forge.image" -}}
{{- $ref := .repository }}
{{- if .tag }}{{ $ref = printf "%s:%s" $ref .tag }}{{ end }}
{{- if .digest }}{{ $ref = printf "%s@%s" $ref .digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* Environment of postgres: the keys the program reads. */}}
{{- define "forge.postgres.env" -}}
- name: POSTGRES_USER
  value: forgejo
- name: POSTGRES_DB
  value: forgejo
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "forge.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.dbPassword | quote }}
- name: PGDATA
  value: /var/lib/postgresql/data/pgdata
{{- end }}

{{/* Environment of forgejo: the keys the program reads. */}}
{{- define "forge.forgejo.env" -}}
- name: FORGEJO__database__DB_TYPE
  value: postgres
- name: FORGEJO__database__HOST
  value: {{ print (include "forge.componentName" (dict "ctx" $ "component" "postgres")) ":" "5432" | quote }}
- name: FORGEJO__database__NAME
  value: forgejo
- name: FORGEJO__database__USER
  value: forgejo
- name: FORGEJO__database__PASSWD
  valueFrom:
    secretKeyRef:
      name: {{ include "forge.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.dbPassword | quote }}
- name: FORGEJO__server__DOMAIN
  value: {{ print (toString $.Values.params.domain) | quote }}
- name: FORGEJO__server__HTTP_PORT
  value: {{ print "3000" | quote }}
- name: FORGEJO__server__SSH_LISTEN_PORT
  value: {{ print "2222" | quote }}
- name: FORGEJO__server__SSH_PORT
  value: {{ print (int64 $.Values.params.sshPort | toString) | quote }}
{{- end }}
