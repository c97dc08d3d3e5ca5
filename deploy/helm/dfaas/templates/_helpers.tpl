{{/* The chart's name. */}}
{{- define "dfaas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the admin Service and the Deployment carry it. */}}
{{- define "dfaas.fullname" -}}
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

{{/* The public Service (proxy and peer ports). */}}
{{- define "dfaas.publicName" -}}
{{- printf "%s-public" (include "dfaas.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/* The Secret holding the node's key (and certificate). */}}
{{- define "dfaas.identitySecret" -}}
{{- if .Values.identity.existingSecret }}
{{- .Values.identity.existingSecret }}
{{- else }}
{{- printf "%s-identity" (include "dfaas.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}
{{- end }}

{{/* Whether the agent gets a certificate (--cert). */}}
{{- define "dfaas.hasCertificate" -}}
{{- if .Values.identity.existingSecret }}
{{- if .Values.identity.certificateInExistingSecret }}true{{ end }}
{{- else if .Values.identity.certificate }}true{{ end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "dfaas.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dfaas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dfaas
{{- end }}

{{/* Labels that select the agent's pod. */}}
{{- define "dfaas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dfaas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The port of a listen address HOST:PORT or :PORT (the agent's --proxy-listen,
--peer-listen), as a number; fails with the value's name when there is none.
*/}}
{{- define "dfaas.port" -}}
{{- $addr := index . 0 }}
{{- $what := index . 1 }}
{{- $port := regexFind "[0-9]+$" (toString $addr) }}
{{- if or (not (contains ":" (toString $addr))) (not $port) }}
{{- fail (printf "%s %q: want HOST:PORT or :PORT" $what $addr) }}
{{- end }}
{{- $port }}
{{- end }}
