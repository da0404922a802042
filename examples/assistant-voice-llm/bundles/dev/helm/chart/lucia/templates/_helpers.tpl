{{/* Chart name, overridable with nameOverride. */}}
{{- define "lucia.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> (or the release alone when it holds the chart name), at most 63 characters. */}}
{{- define "lucia.fullname" -}}
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
{{- define "lucia.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Objects of one component: <fullname>-<component>. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "lucia.componentName" -}}
{{- printf "%s-%s" (include "lucia.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the immutable subset, with the component so no Service selects another component's pods. */}}
{{- define "lucia.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lucia.name" .ctx | quote }}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "lucia.labels" -}}
helm.sh/chart: {{ include "lucia.chart" .ctx | quote }}
{{ include "lucia.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: "lucia"
app.kubernetes.io/managed-by: {{ .ctx.Release.Service | quote }}
{{- end }}

{{/* The pods' ServiceAccount. */}}
{{- define "lucia.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lucia.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: existingSecret, else <fullname>-secrets. */}}
{{- define "lucia.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "lucia.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}
{{- end }}

{{/* Image reference: repository[:tag][@digest]. Call with an image values map. */}}
{{- define "lucia.image" -}}
{{- $ref := .repository }}
{{- if .tag }}{{ $ref = printf "%s:%s" $ref .tag }}{{ end }}
{{- if .digest }}{{ $ref = printf "%s@%s" $ref .digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* Environment of mongo: the keys the program reads. */}}
{{- define "lucia.mongo.env" -}}
- name: HOME
  value: /tmp
{{- end }}

{{/* Environment of agenthost: the keys the program reads. */}}
{{- define "lucia.agenthost.env" -}}
- name: ASPNETCORE_URLS
  value: {{ print "http://+:" "8080" | quote }}
- name: ASPNETCORE_ENVIRONMENT
  value: {{ print (toString $.Values.params.environment) | quote }}
- name: Deployment__Mode
  value: standalone
- name: DataProvider__Cache
  value: Redis
- name: DataProvider__Store
  value: MongoDB
- name: ConnectionStrings__redis
  value: {{ print (include "lucia.componentName" (dict "ctx" $ "component" "redis")) ":" "6379" | quote }}
- name: ConnectionStrings__luciatraces
  value: {{ print "mongodb://" (include "lucia.componentName" (dict "ctx" $ "component" "mongo")) ":" "27017" "/luciatraces" | quote }}
- name: ConnectionStrings__luciaconfig
  value: {{ print "mongodb://" (include "lucia.componentName" (dict "ctx" $ "component" "mongo")) ":" "27017" "/luciaconfig" | quote }}
- name: ConnectionStrings__luciatasks
  value: {{ print "mongodb://" (include "lucia.componentName" (dict "ctx" $ "component" "mongo")) ":" "27017" "/luciatasks" | quote }}
- name: HomeAssistant__BaseUrl
  value: {{ print (toString $.Values.params.haUrl) | quote }}
- name: Logging__LogLevel__Default
  value: {{ print (toString $.Values.params.logLevel) | quote }}
- name: HomeAssistant__AccessToken
  valueFrom:
    secretKeyRef:
      name: {{ include "lucia.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.haToken | quote }}
- name: ConnectionStrings__chat-model
  valueFrom:
    secretKeyRef:
      name: {{ include "lucia.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.chatModel | quote }}
- name: ConnectionStrings__embeddings
  valueFrom:
    secretKeyRef:
      name: {{ include "lucia.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.embeddingsModel | quote }}
      optional: true
- name: DASHBOARD_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "lucia.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.dashboardKey | quote }}
      optional: true
- name: LUCIA_HA_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "lucia.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.haApiKey | quote }}
      optional: true
{{- end }}
