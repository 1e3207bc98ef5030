//! JSON merge patch, the subset of JSON patch the finalizer helper uses, and the comparisons
//! that decide whether a write changes an object.

use serde_json::{Map, Value};

/// JSON merge patch (RFC 7386).
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The subset of JSON patch the finalizer helper uses.
pub(crate) fn json_patch(target: &mut Value, ops: &[Value]) -> bool {
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        match op["op"].as_str() {
            Some("test") => {
                let current = target.pointer(path).cloned().unwrap_or(Value::Null);
                if current != op["value"] {
                    return false;
                }
            }
            Some("add") => {
                let Some(container) = ensure(target, parent) else {
                    return false;
                };
                match container {
                    Value::Array(items) if last == "-" => items.push(op["value"].clone()),
                    Value::Object(map) => {
                        map.insert(last.to_string(), op["value"].clone());
                    }
                    _ => return false,
                }
            }
            Some("remove") => match target.pointer_mut(parent) {
                Some(Value::Array(items)) => {
                    let Ok(i) = last.parse::<usize>() else {
                        return false;
                    };
                    if i < items.len() {
                        items.remove(i);
                    }
                }
                Some(Value::Object(map)) => {
                    map.remove(last);
                }
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

pub(crate) fn ensure<'a>(target: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut current = target;
    for part in pointer.split('/').skip(1) {
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()?
            .entry(part.to_string())
            .or_insert(Value::Null);
    }
    if current.is_null() {
        *current = Value::Object(Map::new());
    }
    Some(current)
}

/// The object without server-maintained fields, to decide whether an update changes anything.
pub(crate) fn content(object: &Value) -> Value {
    let mut c = object.clone();
    if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    c
}

pub(crate) fn spec_of(object: &Value) -> Value {
    let mut c = content(object);
    if let Some(map) = c.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    c
}
