{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "supertokens.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart> unless the release name already contains the chart name.
*/}}
{{- define "supertokens.fullname" -}}
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

{{- define "supertokens.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "supertokens.selectorLabels" -}}
app.kubernetes.io/name: {{ include "supertokens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "supertokens.labels" -}}
helm.sh/chart: {{ include "supertokens.chart" . }}
{{ include "supertokens.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: auth-core
{{- end }}

{{- define "supertokens.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "supertokens.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "supertokens.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding API_KEYS / POSTGRESQL_CONNECTION_URI.
*/}}
{{- define "supertokens.secretName" -}}
{{- default (include "supertokens.fullname" .) .Values.existingSecret.name }}
{{- end }}

{{/*
"true" when the chart creates its own Secret.
*/}}
{{- define "supertokens.createSecret" -}}
{{- if and (not .Values.existingSecret.name) (or .Values.apiKeys .Values.database.connectionUri) }}true{{ end }}
{{- end }}

{{/*
"true" when API_KEYS comes from a Secret.
*/}}
{{- define "supertokens.hasApiKeys" -}}
{{- if .Values.existingSecret.name }}
{{- if .Values.existingSecret.apiKeysKey }}true{{ end }}
{{- else if .Values.apiKeys }}true{{ end }}
{{- end }}

{{/*
"true" when POSTGRESQL_CONNECTION_URI comes from a Secret.
*/}}
{{- define "supertokens.hasConnectionUri" -}}
{{- if .Values.existingSecret.name }}
{{- if .Values.existingSecret.connectionUriKey }}true{{ end }}
{{- else if .Values.database.connectionUri }}true{{ end }}
{{- end }}

{{/*
"true" when some database setting is visible to the chart (the core uses PostgreSQL when
postgresql_connection_uri, postgresql_user or postgresql_password is set).
*/}}
{{- define "supertokens.usesDatabase" -}}
{{- $found := include "supertokens.hasConnectionUri" . }}
{{- range $key, $value := .Values.config }}
{{- if and (has $key (list "postgresql_connection_uri" "postgresql_user" "postgresql_password")) $value }}
{{- $found = "true" }}
{{- end }}
{{- end }}
{{- range $key, $value := .Values.env }}
{{- if and (has $key (list "POSTGRESQL_CONNECTION_URI" "POSTGRESQL_USER" "POSTGRESQL_PASSWORD" "POSTGRESQL_PASSWORD_FILE")) $value }}
{{- $found = "true" }}
{{- end }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name (list "POSTGRESQL_CONNECTION_URI" "POSTGRESQL_USER" "POSTGRESQL_PASSWORD" "POSTGRESQL_PASSWORD_FILE") }}
{{- $found = "true" }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}

{{/*
"true" when the container gets --no-in-mem-db.
*/}}
{{- define "supertokens.requireDatabase" -}}
{{- $required := .Values.database.required }}
{{- if eq (toString $required) "auto" }}
{{- include "supertokens.usesDatabase" . }}
{{- else if eq (toString $required) "true" }}true{{ end }}
{{- end }}

{{/*
Container port: SUPERTOKENS_PORT from env, else config.port, else 3567.
*/}}
{{- define "supertokens.port" -}}
{{- .Values.env.SUPERTOKENS_PORT | default .Values.config.port | default 3567 | int }}
{{- end }}

{{/*
base_path as the server normalises it ("" or "/x/y"): BASE_PATH from env, else config.base_path.
*/}}
{{- define "supertokens.basePath" -}}
{{- $base := .Values.env.BASE_PATH | default .Values.config.base_path | default "" | toString | trimAll "/" }}
{{- if $base }}{{ printf "/%s" $base }}{{ end }}
{{- end }}

{{/*
Guard: in-memory storage is per pod, so several pods without a database would each have their
own users and sessions.
*/}}
{{- define "supertokens.validate" -}}
{{- if not (include "supertokens.usesDatabase" .) }}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "supertokens: more than one pod (replicaCount > 1 or autoscaling.enabled) needs a database: set database.connectionUri, or existingSecret.name with existingSecret.connectionUriKey. Without one every pod keeps its own in-memory users and sessions." }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (le (int .Values.replicaCount) 1) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- if ge (int .Values.podDisruptionBudget.minAvailable) 1 }}
{{- fail "supertokens: podDisruptionBudget.minAvailable >= 1 with a single replica would block every node drain; raise replicaCount or use maxUnavailable." }}
{{- end }}
{{- end }}
{{- end }}
