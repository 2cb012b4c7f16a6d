//! MQTT payloads ↔ WAMP arguments by the transport's `payload_mapping`: the format of the
//! longest matching WAMP URI prefix decides (`""` matches every URI), in both directions.
//! A URI no prefix matches has no mapping: its messages are dropped with a warning, as
//! Crossbar.io drops them.

use bytes::Bytes;
use indexmap::IndexMap;

use crate::client::{CallOptions, PublishOptions};
use crate::router::Router;
use crate::transport::config::PayloadFormat;
use crate::value::{Dict, List, Value};

/// The role dynamic codecs are called with (the realm's service session).
const CODEC_ROLE: &str = "trusted";

/// What an MQTT message becomes in WAMP: arguments and the PUBLISH options it may carry.
#[derive(Debug, Default, PartialEq)]
pub struct Inbound {
    pub args: List,
    pub kwargs: Dict,
    pub options: PublishOptions,
}

/// A transport's `payload_mapping`.
pub struct PayloadMapping {
    /// Longest prefix first.
    formats: Vec<(String, PayloadFormat)>,
    /// The transport's realm: where dynamic codecs live unless their format names another.
    realm: String,
}

impl PayloadMapping {
    pub fn new(mapping: &IndexMap<String, PayloadFormat>, realm: &str) -> Self {
        let mut formats: Vec<(String, PayloadFormat)> = mapping
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        formats.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        PayloadMapping {
            formats,
            realm: realm.to_owned(),
        }
    }

    fn format_for(&self, uri: &str) -> Result<&PayloadFormat, String> {
        self.formats
            .iter()
            .find(|(prefix, _)| uri.starts_with(prefix.as_str()))
            .map(|(_, f)| f)
            .ok_or_else(|| format!("no payload_mapping for \"{uri}\""))
    }

    /// An MQTT PUBLISH payload on `topic` (WAMP URI `uri`) as WAMP arguments.
    pub async fn inbound(
        &self,
        router: &Router,
        uri: &str,
        topic: &str,
        payload: Bytes,
    ) -> Result<Inbound, String> {
        match self.format_for(uri)? {
            PayloadFormat::Passthrough => Ok(Inbound {
                args: vec![Value::Bytes(payload)],
                ..Default::default()
            }),
            f @ PayloadFormat::Native { .. } => {
                let codec = f.native_codec().ok_or("serializer not supported")?;
                let value = codec.decode_value(&payload).map_err(|e| e.0)?;
                inbound_from(value, codec.name())
            }
            PayloadFormat::Dynamic { decoder, realm, .. } => {
                let args = vec![uri.into(), topic.into(), Value::Bytes(payload)];
                let value = self.call(router, realm.as_deref(), decoder, args).await?;
                inbound_from(value, "dynamic")
            }
        }
    }

    /// A WAMP event on `uri` (MQTT topic `topic`) as an MQTT payload.
    pub async fn outbound(
        &self,
        router: &Router,
        uri: &str,
        topic: &str,
        args: List,
        kwargs: Dict,
    ) -> Result<Bytes, String> {
        match self.format_for(uri)? {
            PayloadFormat::Passthrough => match (args.as_slice(), kwargs.is_empty()) {
                ([Value::Bytes(b)], true) => Ok(b.clone()),
                _ => Err(format!(
                    "payload_mapping of \"{uri}\" is passthrough, but the event is not one binary argument"
                )),
            },
            f @ PayloadFormat::Native { .. } => {
                let codec = f.native_codec().ok_or("serializer not supported")?;
                let mut obj = Dict::new();
                if !args.is_empty() {
                    obj.insert("args".into(), Value::List(args));
                }
                if !kwargs.is_empty() {
                    obj.insert("kwargs".into(), Value::Dict(kwargs));
                }
                Ok(codec.encode_value(&Value::Dict(obj)))
            }
            PayloadFormat::Dynamic { encoder, realm, .. } => {
                let call_args = vec![
                    topic.into(),
                    uri.into(),
                    Value::List(args),
                    Value::Dict(kwargs),
                ];
                match self
                    .call(router, realm.as_deref(), encoder, call_args)
                    .await?
                {
                    Value::Bytes(b) => Ok(b),
                    Value::String(s) => Ok(Bytes::from(s)),
                    other => Err(format!(
                        "encoder {encoder} returned {}, not bytes",
                        other.type_name()
                    )),
                }
            }
        }
    }

    async fn call(
        &self,
        router: &Router,
        realm: Option<&str>,
        procedure: &str,
        args: List,
    ) -> Result<Value, String> {
        let realm_name = realm.unwrap_or(&self.realm);
        let realm = router
            .realm(realm_name)
            .ok_or_else(|| format!("no realm \"{realm_name}\" for payload codec {procedure}"))?;
        let session = realm.service_session(CODEC_ROLE).await?;
        session
            .call(procedure, args, Dict::new(), CallOptions::default())
            .await
            .map(|r| r.value())
            .map_err(|e| format!("payload codec {procedure} failed: {e}"))
    }
}

/// A decoded `{"args", "kwargs", "exclude", …}` dict as WAMP arguments and PUBLISH options.
fn inbound_from(value: Value, what: &str) -> Result<Inbound, String> {
    let Value::Dict(mut obj) = value else {
        return Err(format!(
            "a {what} MQTT payload must be a dict, not {}",
            value.type_name()
        ));
    };
    let mut inbound = Inbound::default();
    match obj.shift_remove("args") {
        None | Some(Value::Null) => {}
        Some(Value::List(l)) => inbound.args = l,
        Some(v) => return Err(format!("\"args\" must be a list, not {}", v.type_name())),
    }
    match obj.shift_remove("kwargs") {
        None | Some(Value::Null) => {}
        Some(Value::Dict(d)) => inbound.kwargs = d,
        Some(v) => return Err(format!("\"kwargs\" must be a dict, not {}", v.type_name())),
    }
    let ids = |v: &Value| -> Vec<u64> {
        v.as_list()
            .map(|l| l.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    let strs = |v: &Value| -> Vec<String> {
        v.as_list()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let o = &mut inbound.options;
    if let Some(v) = obj.get("exclude") {
        o.exclude = ids(v);
    }
    if let Some(v) = obj.get("exclude_authid") {
        o.exclude_authid = strs(v);
    }
    if let Some(v) = obj.get("exclude_authrole") {
        o.exclude_authrole = strs(v);
    }
    if let Some(v) = obj.get("eligible") {
        o.eligible = Some(ids(v));
    }
    if let Some(v) = obj.get("eligible_authid") {
        o.eligible_authid = Some(strs(v));
    }
    if let Some(v) = obj.get("eligible_authrole") {
        o.eligible_authrole = Some(strs(v));
    }
    Ok(inbound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::config::SerializerName;

    fn mapping() -> PayloadMapping {
        let mut m = IndexMap::new();
        m.insert(
            String::new(),
            PayloadFormat::Native {
                serializer: SerializerName::Json,
            },
        );
        m.insert("com.raw".to_owned(), PayloadFormat::Passthrough);
        PayloadMapping::new(&m, "realm1")
    }

    #[tokio::test]
    async fn longest_prefix_decides_both_ways() {
        let router = Router::new();
        let m = mapping();
        let raw = Bytes::from_static(b"\x00\xffnot json");
        let got = m
            .inbound(&router, "com.raw.x", "com/raw/x", raw.clone())
            .await
            .unwrap();
        assert_eq!(got.args, vec![Value::Bytes(raw.clone())]);
        let back = m
            .outbound(&router, "com.raw.x", "com/raw/x", got.args, got.kwargs)
            .await
            .unwrap();
        assert_eq!(back, raw);

        let json = Bytes::from_static(
            br#"{"args": [1, "two"], "kwargs": {"z": 1, "a": 2}, "exclude_authrole": ["x"]}"#,
        );
        let got = m.inbound(&router, "com.j", "com/j", json).await.unwrap();
        assert_eq!(got.args, vec![Value::Int(1), Value::from("two")]);
        assert_eq!(got.kwargs.keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(got.options.exclude_authrole, ["x"]);
        let back = m
            .outbound(&router, "com.j", "com/j", got.args, got.kwargs)
            .await
            .unwrap();
        assert_eq!(&back[..], br#"{"args":[1,"two"],"kwargs":{"z":1,"a":2}}"#);
    }

    #[tokio::test]
    async fn bad_payloads_are_errors() {
        let router = Router::new();
        let m = mapping();
        for bad in [&b"not json"[..], b"[1, 2]", br#"{"args": 3}"#, b"\xff"] {
            assert!(
                m.inbound(&router, "com.j", "com/j", Bytes::copy_from_slice(bad))
                    .await
                    .is_err()
            );
        }
        let err = m
            .outbound(
                &router,
                "com.raw",
                "com/raw",
                vec![Value::Int(1)],
                Dict::new(),
            )
            .await
            .unwrap_err();
        assert!(err.contains("passthrough"), "{err}");
        let none = PayloadMapping::new(&IndexMap::new(), "realm1");
        let err = none
            .inbound(&router, "a", "a", Bytes::new())
            .await
            .unwrap_err();
        assert!(err.contains("no payload_mapping"), "{err}");
    }
}
