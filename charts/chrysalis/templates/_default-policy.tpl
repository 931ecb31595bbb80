{{- /*
The spec of the strict default AttestationPolicy (values defaultPolicy.*), which the operator creates as
operator.config.defaultPolicyName whenever no policy of that name exists (operator config key
defaultPolicySpec). The operator creates it, not a helm hook: a hook's custom resource of a CRD this same
release installs fails to map while the apiserver has not yet established the CRD, and `lookup` (which
kept a hook from re-creating an edited policy) sees nothing under `helm template` or GitOps tools.
*/ -}}
{{- define "chrysalis.defaultPolicySpec" -}}
{{- $p := .Values.defaultPolicy -}}
{{- if $p.allowSimulated }}
{{- if not $p.trustedRoots }}
{{- fail "defaultPolicy.allowSimulated needs defaultPolicy.trustedRoots: the simulated TEE's root certificate (PEM)" }}
{{- end }}
# A test cluster's policy: evidence chained to these simulated roots passes (status says simulated).
allowSimulated: true
trustedRoots: {{- toYaml $p.trustedRoots | nindent 2 }}
{{- else }}
allowSimulated: false
{{- end }}
debugAllowed: false
migrationAgentAllowed: false
smtAllowed: {{ $p.smtAllowed }}
{{- with $p.allowedMeasurements }}
allowedMeasurements: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.allowedImageHashes }}
allowedImageHashes: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.allowedHostData }}
allowedHostData: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.allowedVmpls }}
allowedVmpls: {{- toYaml . | nindent 2 }}
{{- end }}
minimumTcb: {{- toYaml $p.minimumTcb | nindent 2 }}
tdx:
  collateralRequired: true
  acceptedTcbStatuses: {{- toYaml $p.tdx.acceptedTcbStatuses | nindent 4 }}
gpu:
  ccModeRequired: true
  {{- with $p.gpu.driverVersions }}
  driverVersions: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $p.gpu.vbiosVersions }}
  vbiosVersions: {{- toYaml . | nindent 4 }}
  {{- end }}
maxEvidenceAgeSeconds: {{ $p.maxEvidenceAgeSeconds }}
reattestIntervalSeconds: {{ $p.reattestIntervalSeconds }}
quarantineGraceSeconds: {{ $p.quarantineGraceSeconds }}
{{- end }}
