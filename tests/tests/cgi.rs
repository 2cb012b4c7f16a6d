//! `cgi` web services: the scripts of a directory run through a processor (here the test
//! Python), with the CGI variables, arguments, working directory, headers, status and
//! redirects Crossbar.io gives them (Twisted's CGI). The same checks run against Crossbar.io,
//! but for `PATH_INFO`: Crossbar.io 26 fails every request with a path below the script
//! (Twisted's `CGIScript.render` joins the bytes path segments as text: a TypeError, 500).

use serde_json::{Value, json};
use tests::{Node, free_port, python, workspace_root};

fn config(port: u16) -> Value {
    let dir = workspace_root().join("tests/py/cgi_bin");
    tests::web_node_config(
        port,
        json!({
            "cgi": {"type": "cgi", "directory": dir, "processor": python()},
            "nested": {"type": "path", "paths": {
                "scripts": {"type": "cgi", "directory": dir, "processor": python()}
            }}
        }),
    )
}

/// Which router: Crossbar.io 26 cannot serve a path below a script (see above).
#[derive(PartialEq)]
enum Router {
    Edge,
    CrossbarIo,
}

fn check(port: u16, router: Router) {
    let who = match router {
        Router::Edge => "crossbar-edge",
        Router::CrossbarIo => "Crossbar.io",
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let get = |path: &str| {
        let mut r = agent
            .get(url(path))
            .header("X-Test", "yes")
            .call()
            .unwrap_or_else(|e| panic!("{who}: GET {path}: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.body_mut().read_to_string().unwrap())
    };
    // The transport listens before its paths' services have all started (each is started
    // through the management API, on both routers): wait (bounded) until both serve.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // (Before that, the root's JSON service answers every path.)
    let serving = |path: &str| get(path).2.starts_with("deeper");
    while !serving("/cgi/sub/deeper.py") || !serving("/nested/scripts/sub/deeper.py") {
        assert!(
            std::time::Instant::now() < deadline,
            "{who}: the cgi services did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (path, path_info, script_name) = match router {
        Router::Edge => ("/cgi/echo.py/a/b?x=1&y=2", json!("/a/b"), "/cgi/echo.py"),
        Router::CrossbarIo => ("/cgi/echo.py?x=1&y=2", Value::Null, "/cgi/echo.py"),
    };
    let (status, headers, body) = get(path);
    assert_eq!(status, 200, "{who}: {body}");
    assert_eq!(headers["content-type"], "application/json", "{who}");
    assert_eq!(headers["x-script"], "echo", "{who}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({"REQUEST_METHOD": "GET", "SCRIPT_NAME": script_name, "PATH_INFO": path_info,
               "QUERY_STRING": "x=1&y=2", "CONTENT_TYPE": null, "CONTENT_LENGTH": "0",
               "HTTP_X_TEST": "yes", "SERVER_NAME": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1",
               "REMOTE_ADDR": "127.0.0.1", "REQUEST_URI": path,
               "args": [], "cwd": "cgi_bin", "script": "echo.py", "body": ""}),
        "{who}"
    );
    // A query without "=" is not given to the script as arguments (Crossbar.io runs
    // `processor script` only).
    let (_, _, body) = get("/cgi/echo.py?one+two%20three");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["args"], json!([]), "{who}: {v}");
    assert_eq!(v["QUERY_STRING"], "one+two%20three", "{who}: {v}");
    assert_eq!(v["PATH_INFO"], Value::Null, "{who}: {v}");

    let mut r = agent
        .post(url("/nested/scripts/echo.py"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("a=1&b=two")
        .unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (
            &v["REQUEST_METHOD"],
            &v["SCRIPT_NAME"],
            &v["CONTENT_TYPE"],
            &v["CONTENT_LENGTH"],
            &v["body"]
        ),
        (
            &json!("POST"),
            &json!("/nested/scripts/echo.py"),
            &json!("application/x-www-form-urlencoded"),
            &json!("9"),
            &json!("a=1&b=two")
        ),
        "{who}: {v}"
    );

    let (deeper, answer) = match router {
        Router::Edge => ("/cgi/sub/deeper.py/more", "deeper /cgi/sub/deeper.py /more"),
        Router::CrossbarIo => ("/cgi/sub/deeper.py", "deeper /cgi/sub/deeper.py -"),
    };
    let (status, _, body) = get(deeper);
    assert_eq!((status, body.as_str()), (200, answer), "{who}");
    let (status, headers, _) = get("/cgi/redirect.py");
    assert_eq!(status, 302, "{who}");
    assert_eq!(headers["location"], "/elsewhere", "{who}");
    let (status, _, body) = get("/cgi/status.py");
    assert_eq!((status, body.as_str()), (404, "nope"), "{who}");
    let (status, _, _) = get("/cgi/broken.py");
    assert_eq!(status, 500, "{who}: a script that ends before its headers");
    let (status, _, _) = get("/cgi/missing.py");
    assert_eq!(status, 404, "{who}: no such script");
    let (status, _, _) = get("/cgi/sub");
    assert_eq!(status, 404, "{who}: a directory is not listed");
}

#[test]
fn cgi_scripts_run_through_their_processor() {
    let port = free_port();
    let mut node = Node::start(&config(port).to_string(), &[]);
    node.wait_ready(&[port]);
    check(port, Router::Edge);
}

#[test]
fn cgi_scripts_run_as_under_crossbar_io() {
    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let port = free_port();
    let cb = tests::crossbar::Crossbar::start(&bin, &config(port).to_string(), &[port]);
    cb.check(|| check(port, Router::CrossbarIo));
}
