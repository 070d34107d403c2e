//! Field numbers and types of the protobuf messages typed `kubectl create` commands send,
//! from Kubernetes' `generated.proto` files. `keep` marks fields that are pointers in Go:
//! present means set, even to zero; other zero scalars are omitted as Go's JSON omits them.

pub enum Ty {
    Str,
    Int,
    Int32,
    Bool,
    Msg(&'static Message),
    /// An embedded Go struct: its fields appear inline in the parent's JSON.
    Inline(&'static Message),
    Time,
    IntOrStr,
    Quantity,
    MapStr,
    MapBytes,
    MapQuantity,
    /// Decoded and dropped (status, which the server resets on create).
    Skip,
}

pub struct Field {
    pub num: u32,
    pub name: &'static str,
    pub ty: Ty,
    pub repeated: bool,
    pub keep: bool,
}

pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// An optional field (zero values omitted).
const fn f(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: false,
        keep: false,
    }
}

/// A pointer field: present means set, even when zero.
const fn k(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: false,
        keep: true,
    }
}

/// A repeated field or a map.
const fn r(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: true,
        keep: true,
    }
}

use Ty::*;

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        f(5, "apiVersion", Str),
        f(1, "kind", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        k(6, "controller", Bool),
        k(7, "blockOwnerDeletion", Bool),
    ],
};

static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Str),
        f(2, "generateName", Str),
        f(3, "namespace", Str),
        f(4, "selfLink", Str),
        f(5, "uid", Str),
        f(6, "resourceVersion", Str),
        f(7, "generation", Int),
        f(8, "creationTimestamp", Time),
        f(9, "deletionTimestamp", Time),
        k(10, "deletionGracePeriodSeconds", Int),
        r(11, "labels", MapStr),
        r(12, "annotations", MapStr),
        r(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        r(14, "finalizers", Str),
        f(17, "managedFields", Skip),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)],
};

static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[
        r(1, "matchLabels", MapStr),
        r(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[r(1, "finalizers", Str)],
};

static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&NAMESPACE_SPEC)),
        f(3, "status", Skip),
    ],
};

static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        k(4, "immutable", Bool),
        r(2, "data", MapStr),
        r(3, "binaryData", MapBytes),
    ],
};

static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        k(5, "immutable", Bool),
        r(2, "data", MapBytes),
        r(4, "stringData", MapStr),
        f(3, "type", Str),
    ],
};

static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", Str),
        f(2, "namespace", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        f(6, "resourceVersion", Str),
        f(7, "fieldPath", Str),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[f(1, "name", Str)],
};

static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        r(2, "secrets", Msg(&OBJECT_REFERENCE)),
        r(3, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        k(4, "automountServiceAccountToken", Bool),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        f(1, "name", Str),
        f(2, "protocol", Str),
        k(6, "appProtocol", Str),
        f(3, "port", Int32),
        f(4, "targetPort", IntOrStr),
        f(5, "nodePort", Int32),
    ],
};

static CLIENT_IP_CONFIG: Message = Message {
    name: "ClientIPConfig",
    fields: &[k(1, "timeoutSeconds", Int32)],
};

static SESSION_AFFINITY_CONFIG: Message = Message {
    name: "SessionAffinityConfig",
    fields: &[k(1, "clientIP", Msg(&CLIENT_IP_CONFIG))],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        r(1, "ports", Msg(&SERVICE_PORT)),
        r(2, "selector", MapStr),
        f(3, "clusterIP", Str),
        r(18, "clusterIPs", Str),
        f(4, "type", Str),
        r(5, "externalIPs", Str),
        f(7, "sessionAffinity", Str),
        f(8, "loadBalancerIP", Str),
        r(9, "loadBalancerSourceRanges", Str),
        f(10, "externalName", Str),
        f(11, "externalTrafficPolicy", Str),
        f(12, "healthCheckNodePort", Int32),
        f(13, "publishNotReadyAddresses", Bool),
        k(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
        r(19, "ipFamilies", Str),
        k(17, "ipFamilyPolicy", Str),
        k(20, "allocateLoadBalancerNodePorts", Bool),
        k(21, "loadBalancerClass", Str),
        k(22, "internalTrafficPolicy", Str),
        k(23, "trafficDistribution", Str),
    ],
};

static SERVICE: Message = Message {
    name: "Service",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&SERVICE_SPEC)),
        f(3, "status", Skip),
    ],
};

static KEY_SELECTOR: Message = Message {
    name: "KeySelector",
    fields: &[
        f(1, "localObjectReference", Inline(&LOCAL_OBJECT_REFERENCE)),
        f(2, "key", Str),
        k(3, "optional", Bool),
    ],
};

static OBJECT_FIELD_SELECTOR: Message = Message {
    name: "ObjectFieldSelector",
    fields: &[f(1, "apiVersion", Str), f(2, "fieldPath", Str)],
};

static RESOURCE_FIELD_SELECTOR: Message = Message {
    name: "ResourceFieldSelector",
    fields: &[
        f(1, "containerName", Str),
        f(2, "resource", Str),
        f(3, "divisor", Quantity),
    ],
};

static ENV_VAR_SOURCE: Message = Message {
    name: "EnvVarSource",
    fields: &[
        k(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        k(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        k(3, "configMapKeyRef", Msg(&KEY_SELECTOR)),
        k(4, "secretKeyRef", Msg(&KEY_SELECTOR)),
    ],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[
        f(1, "name", Str),
        f(2, "value", Str),
        k(3, "valueFrom", Msg(&ENV_VAR_SOURCE)),
    ],
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        f(1, "name", Str),
        f(2, "hostPort", Int32),
        f(3, "containerPort", Int32),
        f(4, "protocol", Str),
        f(5, "hostIP", Str),
    ],
};

static RESOURCE_REQUIREMENTS: Message = Message {
    name: "ResourceRequirements",
    fields: &[r(1, "limits", MapQuantity), r(2, "requests", MapQuantity)],
};

static VOLUME_MOUNT: Message = Message {
    name: "VolumeMount",
    fields: &[
        f(1, "name", Str),
        f(2, "readOnly", Bool),
        f(3, "mountPath", Str),
        f(4, "subPath", Str),
        k(5, "mountPropagation", Str),
        f(6, "subPathExpr", Str),
        k(7, "recursiveReadOnly", Str),
    ],
};

static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        f(1, "name", Str),
        f(2, "image", Str),
        r(3, "command", Str),
        r(4, "args", Str),
        f(5, "workingDir", Str),
        r(6, "ports", Msg(&CONTAINER_PORT)),
        r(7, "env", Msg(&ENV_VAR)),
        f(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        r(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        f(13, "terminationMessagePath", Str),
        f(20, "terminationMessagePolicy", Str),
        f(14, "imagePullPolicy", Str),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        k(24, "restartPolicy", Str),
    ],
};

/// Only an empty security context is understood.
static POD_SECURITY_CONTEXT: Message = Message {
    name: "PodSecurityContext",
    fields: &[],
};

static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        r(20, "initContainers", Msg(&CONTAINER)),
        r(2, "containers", Msg(&CONTAINER)),
        f(3, "restartPolicy", Str),
        k(4, "terminationGracePeriodSeconds", Int),
        k(5, "activeDeadlineSeconds", Int),
        f(6, "dnsPolicy", Str),
        r(7, "nodeSelector", MapStr),
        f(8, "serviceAccountName", Str),
        f(9, "serviceAccount", Str),
        f(10, "nodeName", Str),
        f(11, "hostNetwork", Bool),
        f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool),
        k(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        r(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        f(16, "hostname", Str),
        f(17, "subdomain", Str),
        f(19, "schedulerName", Str),
        f(24, "priorityClassName", Str),
        k(25, "priority", Int32),
        k(30, "enableServiceLinks", Bool),
        k(31, "preemptionPolicy", Str),
    ],
};

static POD_TEMPLATE_SPEC: Message = Message {
    name: "PodTemplateSpec",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&POD_SPEC)),
    ],
};

static ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[k(1, "maxUnavailable", IntOrStr), k(2, "maxSurge", IntOrStr)],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[
        f(1, "type", Str),
        k(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        k(1, "replicas", Int32),
        k(2, "selector", Msg(&LABEL_SELECTOR)),
        f(3, "template", Msg(&POD_TEMPLATE_SPEC)),
        f(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        f(5, "minReadySeconds", Int32),
        k(6, "revisionHistoryLimit", Int32),
        f(7, "paused", Bool),
        k(9, "progressDeadlineSeconds", Int32),
    ],
};

static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        f(3, "status", Skip),
    ],
};

static JOB_SPEC: Message = Message {
    name: "JobSpec",
    fields: &[
        k(1, "parallelism", Int32),
        k(2, "completions", Int32),
        k(3, "activeDeadlineSeconds", Int),
        k(7, "backoffLimit", Int32),
        k(4, "selector", Msg(&LABEL_SELECTOR)),
        k(5, "manualSelector", Bool),
        f(6, "template", Msg(&POD_TEMPLATE_SPEC)),
        k(8, "ttlSecondsAfterFinished", Int32),
        k(9, "completionMode", Str),
        k(10, "suspend", Bool),
        k(12, "backoffLimitPerIndex", Int32),
        k(13, "maxFailedIndexes", Int32),
        k(14, "podReplacementPolicy", Str),
        k(15, "managedBy", Str),
    ],
};

static JOB: Message = Message {
    name: "Job",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&JOB_SPEC)),
        f(3, "status", Skip),
    ],
};

static JOB_TEMPLATE_SPEC: Message = Message {
    name: "JobTemplateSpec",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&JOB_SPEC)),
    ],
};

static CRON_JOB_SPEC: Message = Message {
    name: "CronJobSpec",
    fields: &[
        f(1, "schedule", Str),
        k(8, "timeZone", Str),
        k(2, "startingDeadlineSeconds", Int),
        f(3, "concurrencyPolicy", Str),
        k(4, "suspend", Bool),
        f(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
        k(6, "successfulJobsHistoryLimit", Int32),
        k(7, "failedJobsHistoryLimit", Int32),
    ],
};

static CRON_JOB: Message = Message {
    name: "CronJob",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&CRON_JOB_SPEC)),
        f(3, "status", Skip),
    ],
};

static SERVICE_BACKEND_PORT: Message = Message {
    name: "ServiceBackendPort",
    fields: &[f(1, "name", Str), f(2, "number", Int32)],
};

static INGRESS_SERVICE_BACKEND: Message = Message {
    name: "IngressServiceBackend",
    fields: &[f(1, "name", Str), f(2, "port", Msg(&SERVICE_BACKEND_PORT))],
};

static INGRESS_BACKEND: Message = Message {
    name: "IngressBackend",
    fields: &[k(4, "service", Msg(&INGRESS_SERVICE_BACKEND))],
};

static HTTP_INGRESS_PATH: Message = Message {
    name: "HTTPIngressPath",
    fields: &[
        f(1, "path", Str),
        k(3, "pathType", Str),
        f(2, "backend", Msg(&INGRESS_BACKEND)),
    ],
};

static HTTP_INGRESS_RULE_VALUE: Message = Message {
    name: "HTTPIngressRuleValue",
    fields: &[r(1, "paths", Msg(&HTTP_INGRESS_PATH))],
};

static INGRESS_RULE_VALUE: Message = Message {
    name: "IngressRuleValue",
    fields: &[k(1, "http", Msg(&HTTP_INGRESS_RULE_VALUE))],
};

static INGRESS_RULE: Message = Message {
    name: "IngressRule",
    fields: &[
        f(1, "host", Str),
        f(2, "ingressRuleValue", Inline(&INGRESS_RULE_VALUE)),
    ],
};

static INGRESS_TLS: Message = Message {
    name: "IngressTLS",
    fields: &[r(1, "hosts", Str), f(2, "secretName", Str)],
};

static INGRESS_SPEC: Message = Message {
    name: "IngressSpec",
    fields: &[
        k(4, "ingressClassName", Str),
        k(1, "defaultBackend", Msg(&INGRESS_BACKEND)),
        r(2, "tls", Msg(&INGRESS_TLS)),
        r(3, "rules", Msg(&INGRESS_RULE)),
    ],
};

static INGRESS: Message = Message {
    name: "Ingress",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&INGRESS_SPEC)),
        f(3, "status", Skip),
    ],
};

static PRIORITY_CLASS: Message = Message {
    name: "PriorityClass",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        k(2, "value", Int32),
        f(3, "globalDefault", Bool),
        f(4, "description", Str),
        k(5, "preemptionPolicy", Str),
    ],
};

const TOP_LEVEL: &[(&str, &str, &Message)] = &[
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Secret", &SECRET),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Service", &SERVICE),
    ("apps/v1", "Deployment", &DEPLOYMENT),
    ("batch/v1", "Job", &JOB),
    ("batch/v1", "CronJob", &CRON_JOB),
    ("networking.k8s.io/v1", "Ingress", &INGRESS),
    ("scheduling.k8s.io/v1", "PriorityClass", &PRIORITY_CLASS),
];

/// The schema of an object sent as protobuf, if it is one typed creates send.
pub fn top_level(api_version: &str, kind: &str) -> Option<&'static Message> {
    TOP_LEVEL
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}

pub fn supported() -> String {
    TOP_LEVEL
        .iter()
        .map(|(_, k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}
