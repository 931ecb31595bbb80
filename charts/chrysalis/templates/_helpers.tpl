{{/*
The chart's name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "chrysalis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name: <release>-<chart> unless the release name already contains the chart name,
or fullnameOverride is set. Truncated to 63 characters, less room for the longest suffix we append.
*/}}
{{- define "chrysalis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "chrysalis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels every object carries.
*/}}
{{- define "chrysalis.labels" -}}
helm.sh/chart: {{ include "chrysalis.chart" . }}
app.kubernetes.io/name: {{ include "chrysalis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chrysalis
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels of one component. Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "chrysalis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chrysalis.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All labels of one component's objects. Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "chrysalis.componentLabels" -}}
{{ include "chrysalis.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Names of the objects. */}}
{{- define "chrysalis.operator.fullname" -}}
{{- printf "%s-operator" (include "chrysalis.fullname" .) }}
{{- end }}
{{- define "chrysalis.attester.fullname" -}}
{{- printf "%s-attester" (include "chrysalis.fullname" .) }}
{{- end }}
{{- /* The attestation service's Deployment, ServiceAccount and roles (the Service has the same name). */}}
{{- define "chrysalis.attestation.fullname" -}}
{{- printf "%s-attestation" (include "chrysalis.fullname" .) }}
{{- end }}
{{- define "chrysalis.attestation.serviceName" -}}
{{- printf "%s-attestation" (include "chrysalis.fullname" .) }}
{{- end }}
{{- define "chrysalis.metrics.serviceName" -}}
{{- printf "%s-metrics" (include "chrysalis.fullname" .) }}
{{- end }}
{{- define "chrysalis.attestation.metricsServiceName" -}}
{{- printf "%s-attestation-metrics" (include "chrysalis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "chrysalis.attestation.tlsSecretName" -}}
{{- if eq .Values.attestation.tls.mode "secret" }}
{{- required "attestation.tls.secretName is required when attestation.tls.mode is \"secret\"" .Values.attestation.tls.secretName }}
{{- else }}
{{- default (printf "%s-attestation-tls" (include "chrysalis.fullname" .)) .Values.attestation.tls.secretName }}
{{- end }}
{{- end }}

{{/* The attestation service's in-cluster URL, as the attesters and replica sidecars reach it. */}}
{{- define "chrysalis.attestation.url" -}}
{{- printf "https://%s.%s.svc:%d" (include "chrysalis.attestation.serviceName" .) .Release.Namespace (int .Values.attestation.service.port) }}
{{- end }}

{{/* The lease namespace: the release namespace unless configured. */}}
{{- define "chrysalis.leaseNamespace" -}}
{{- default .Release.Namespace .Values.operator.leaderElection.namespace }}
{{- end }}

{{/* Namespaces whose wallet Secrets the settlement controller may read. */}}
{{- define "chrysalis.settlementNamespaces" -}}
{{- $namespaces := .Values.rbac.settlement.namespaces }}
{{- if not $namespaces }}{{ $namespaces = list .Release.Namespace }}{{ end }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{/*
ServiceAccount names.
*/}}
{{- define "chrysalis.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "chrysalis.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}
{{- define "chrysalis.attestation.serviceAccountName" -}}
{{- if .Values.attestation.serviceAccount.create }}
{{- default (include "chrysalis.attestation.fullname" .) .Values.attestation.serviceAccount.name }}
{{- else }}
{{- required "attestation.serviceAccount.name is required when attestation.serviceAccount.create is false" .Values.attestation.serviceAccount.name }}
{{- end }}
{{- end }}
{{- define "chrysalis.attester.serviceAccountName" -}}
{{- if .Values.attester.serviceAccount.create }}
{{- default (include "chrysalis.attester.fullname" .) .Values.attester.serviceAccount.name }}
{{- else }}
{{- required "attester.serviceAccount.name is required when attester.serviceAccount.create is false" .Values.attester.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference: registry/repository:tag@digest, where tag defaults to the chart's appVersion.
Call with (dict "ctx" $ "image" .Values.operator.image).
*/}}
{{- define "chrysalis.image" -}}
{{- $ref := .image.repository }}
{{- with .image.registry }}{{ $ref = printf "%s/%s" . $ref }}{{ end }}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $ref $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" $ref $tag }}
{{- end }}
{{- end }}

{{/* "true" when the attester needs the node's TEE or GPU devices (privileged), "" otherwise. */}}
{{- define "chrysalis.attester.hardwareAccess" -}}
{{- if or (eq .Values.attester.tee "tsm") (eq .Values.attester.gpu "nvml") }}true{{ end }}
{{- end }}
