//! `cdc_args`: the arguments of a management call through every way the CDC and the node read
//! them: `mgmt_api::Args` (position first, then keyword, null as absent) and the seed API's ID
//! rules (`cdc::args::SeedArgs`), then the parameter table of every plain forwarding procedure
//! (`cdc::remote::fuzz_read_forward_args`). The first octet picks the serializer the
//! arguments arrive in; the rest is the serialized `[args, kwargs]` (or `args` alone).

use cdc::args::SeedArgs;
use mgmt_api::Args;
use router_core::{Codec, Dict, Value};

const NAMES: &[&str] = &[
    "node_id",
    "worker_id",
    "realm_id",
    "role_id",
    "path",
    "config",
    "details",
    "limit",
    "kill",
    "reason",
    "profile_id",
    "runtime",
    "async",
    "x",
];

pub fn cdc_args(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(ctl & 3)];
    let Ok(value) = codec.decode_value(rest) else {
        return;
    };
    let (args, kwargs) = match value {
        Value::List(mut l) => match (l.len(), l.pop()) {
            (2, Some(Value::Dict(kw))) => match l.pop() {
                Some(Value::List(a)) => (a, kw),
                Some(other) => (vec![other], kw),
                None => (Vec::new(), kw),
            },
            (_, last) => {
                l.extend(last);
                (l, Dict::new())
            }
        },
        Value::Dict(kw) => (Vec::new(), kw),
        other => (vec![other], Dict::new()),
    };
    let a = Args::new(args, kwargs);
    for pos in 0..4 {
        for &name in NAMES {
            let _ = a.get_raw(pos, name);
            let _ = a.get(pos, name);
            let _ = a.get_any(pos, &[name, "alias"]);
            let _ = a.required(pos, &[name]);
            let _ = a.json(pos, &[name]);
            let _ = a.str(pos, name);
            let _ = a.string(pos, name);
            let _ = a.opt_str(pos, name);
            let _ = a.bool_or(pos, name, true);
            let _ = a.u64_or(pos, name, 7);
            if let Ok(n) = a.u64_in(pos, name, 3, 10) {
                assert!(n <= 10, "u64_in returned {n} over its maximum");
            }
            if let Ok(f) = a.f64_or(pos, name, 0.5) {
                assert!(f.is_finite(), "f64_or returned {f}");
            }
            let _ = a.dict(pos, name);
            let _ = a.opt_dict(pos, name);
            let _ = a.object_id(pos, name);
            let _ = a.token_id(pos, name);
            let _ = a.resource_id(pos, name);
        }
        let _ = a.node_id(pos);
    }
    let _ = a.to_json();
    cdc::remote::fuzz_read_forward_args(&a);
}
