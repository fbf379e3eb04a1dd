//! The OpenAPI 3 document, written by hand in `openapi.json` and checked against the router
//! by the tests (every documented operation answers, every route is documented).

/// The document as served by `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The document parsed.
pub fn document() -> serde_json::Value {
    serde_json::from_str(OPENAPI_JSON).unwrap_or(serde_json::Value::Null)
}

/// `(method, path)` of every documented operation, e.g. `("get", "/status/{job_id}")`.
pub fn operations() -> Vec<(String, String)> {
    let doc = document();
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    ops.push((method.clone(), path.clone()));
                }
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_and_lists_every_route() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let ops = operations();
        for (m, p) in [
            ("get", "/presigned-url"),
            ("post", "/process"),
            ("get", "/status/{job_id}"),
            ("get", "/results/{job_id}"),
            ("get", "/openapi.json"),
        ] {
            assert!(ops.contains(&(m.to_owned(), p.to_owned())), "{m} {p}");
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        if k == "$ref" {
                            out.push(v.as_str().unwrap_or_default().to_owned());
                        } else {
                            refs(v, out);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
    }
}
