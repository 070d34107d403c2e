//! Pod priority, as kube-apiserver's Priority admission plugin: a new pod's
//! `priorityClassName` is resolved to `spec.priority` and `spec.preemptionPolicy` (the
//! cluster's global default class, or 0, when it names none), and at most one PriorityClass
//! is the global default.

use serde_json::{Value, json};
use skiff_api::error::ApiError;
use skiff_api::kinds::scheduling::SYSTEM_CLASSES;
use skiff_api::{ResourceType, meta, resources};

use crate::app::App;
use crate::http::Query;
use crate::objects::read::collection_prefix;
use crate::objects::write::create_object;

fn priority_classes() -> &'static ResourceType {
    resources::by_kind("scheduling.k8s.io", "PriorityClass").expect("priority classes are served")
}

/// What a class gives the pods that name it.
struct Class {
    name: String,
    value: i64,
    preemption_policy: Option<String>,
}

impl Class {
    fn of(obj: &Value) -> Self {
        Class {
            name: meta::name(obj).unwrap_or_default().to_owned(),
            value: obj.get("value").and_then(Value::as_i64).unwrap_or(0),
            preemption_policy: obj
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// Every PriorityClass marked `globalDefault`.
async fn defaults(app: &App) -> Result<Vec<Value>, ApiError> {
    let rt = priority_classes();
    let page = app
        .registry
        .list(rt, &collection_prefix(rt, None), None, 0, 0)
        .await?;
    let mut out = Vec::new();
    for raw in page.items {
        if raw.fields(&[&["globalDefault"]])?[0] == Some(b"true") {
            out.push(raw.parse()?);
        }
    }
    Ok(out)
}

/// Sets a new pod's priority and preemption policy from its PriorityClass.
pub async fn admit_pod(app: &App, pod: &mut Value) -> Result<(), ApiError> {
    let spec = pod.get("spec");
    let named = spec
        .and_then(|s| s.get("priorityClassName"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let pod_name = meta::name(pod).unwrap_or_default().to_owned();
    let forbidden =
        |why: String| ApiError::forbidden(format!("pods {pod_name:?} is forbidden: {why}"));
    let class = match named {
        Some(name) => match app.registry.get(priority_classes(), None, &name).await? {
            Some(found) => Some(Class::of(&found.object)),
            None => {
                return Err(forbidden(format!(
                    "no PriorityClass with name {name} was found"
                )));
            }
        },
        None => defaults(app).await?.first().map(Class::of),
    };
    let (value, policy) = match &class {
        Some(c) => (c.value, c.preemption_policy.as_deref()),
        None => (0, None),
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        // No spec: validation rejects the pod, saying what is missing.
        return Ok(());
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority \
             admission controller computed {value} from the given PriorityClass name"
        )));
    }
    spec.insert("priority".into(), json!(value));
    if let Some(policy) = policy {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
            && given != policy
        {
            return Err(forbidden(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; \
                 priority admission controller computed {policy} from the given PriorityClass name"
            )));
        }
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if let Some(c) = class {
        spec.insert("priorityClassName".into(), json!(c.name));
    }
    Ok(())
}

/// A class may become the global default only while no other class is.
pub async fn check_single_default(app: &App, class: &Value) -> Result<(), ApiError> {
    if class.get("globalDefault").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let name = meta::name(class).unwrap_or_default();
    match defaults(app)
        .await?
        .iter()
        .find(|d| meta::name(d) != Some(name))
    {
        Some(other) => Err(ApiError::forbidden(format!(
            "PriorityClass {} is already marked as default. Only one default can exist",
            meta::name(other).unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// Creates the system classes every cluster has, if they are missing.
pub async fn bootstrap(app: &App) -> Result<(), ApiError> {
    let rt = priority_classes();
    for (name, value, description) in SYSTEM_CLASSES {
        if app.registry.get(rt, None, name).await?.is_some() {
            continue;
        }
        let class = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        });
        match create_object(app, rt, class, &Query::default()).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
