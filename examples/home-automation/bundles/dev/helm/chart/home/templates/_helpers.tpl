{{/* Chart name, overridable with nameOverride. */}}
{{- define "home.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> (or the release alone when it holds the chart name), at most 63 characters. */}}
{{- define "home.fullname" -}}
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
{{- define "home.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Objects of one component: <fullname>-<component>. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "home.componentName" -}}
{{- printf "%s-%s" (include "home.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the immutable subset, with the component so no Service selects another component's pods. */}}
{{- define "home.selectorLabels" -}}
app.kubernetes.io/name: {{ include "home.name" .ctx | quote }}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "home.labels" -}}
helm.sh/chart: {{ include "home.chart" .ctx | quote }}
{{ include "home.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: "home"
app.kubernetes.io/managed-by: {{ .ctx.Release.Service | quote }}
{{- end }}

{{/* The pods' ServiceAccount. */}}
{{- define "home.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "home.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: existingSecret, else <fullname>-secrets. */}}
{{- define "home.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "home.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}
{{- end }}

{{/* Image reference: repository[:tag][@digest]. Call with an image values map. */}}
{{- define "home.image" -}}
{{- $ref := .repository }}
{{- if .tag }}{{ $ref = printf "%s:%s" $ref .tag }}{{ end }}
{{- if .digest }}{{ $ref = printf "%s@%s" $ref .digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* Environment of homeassistant: the keys the program reads. */}}
{{- define "home.homeassistant.env" -}}
- name: TZ
  value: {{ print (toString $.Values.params.timeZone) | quote }}
{{- end }}

{{/* Environment of zigbee2mqtt: the keys the program reads. */}}
{{- define "home.zigbee2mqtt.env" -}}
- name: TZ
  value: {{ print (toString $.Values.params.timeZone) | quote }}
- name: ZIGBEE2MQTT_CONFIG_MQTT_SERVER
  value: {{ print "mqtt://" (include "home.componentName" (dict "ctx" $ "component" "mosquitto")) ":" "1883" | quote }}
- name: ZIGBEE2MQTT_CONFIG_MQTT_USER
  value: bridge
- name: ZIGBEE2MQTT_CONFIG_MQTT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "home.secretName" $ | quote }}
      key: {{ $.Values.secrets.keys.mqttPassword | quote }}
- name: ZIGBEE2MQTT_CONFIG_SERIAL_PORT
  value: {{ print (toString $.Values.params.zigbeeAdapter) | quote }}
- name: ZIGBEE2MQTT_CONFIG_FRONTEND_PORT
  value: {{ print "8080" | quote }}
{{- end }}
