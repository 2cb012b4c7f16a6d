use super::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn mail() -> PinMail {
    PinMail {
        to_name: "alice".into(),
        to_email: "alice@example.com".into(),
        action: "registration of user \"alice\"".into(),
        kind: "create_user".into(),
        verification_id: "0f7c9a1e-5f1b-4e83-9a55-0a1b2c3d4e5f".into(),
        token: "ACDE-FHJK-MNPQ".into(),
        expires_in_secs: 900,
    }
}

#[tokio::test]
async fn outbox_messages_carry_the_pin_as_text_and_picture() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let m = Mailer::new(&MailConfig::default(), outbox.clone()).unwrap();
    m.send(&mail()).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(files.len(), 1);
    let path = files[0].as_ref().unwrap().path();
    assert!(path.to_string_lossy().ends_with(".eml"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(pin_from_message(&text).as_deref(), Some("ACDE-FHJK-MNPQ"));
    assert_eq!(
        verification_id_from_message(&text).as_deref(),
        Some("0f7c9a1e-5f1b-4e83-9a55-0a1b2c3d4e5f")
    );
    assert!(text.contains("To: alice <alice@example.com>"), "{text}");
    assert!(text.contains("Content-Type: image/png"), "{text}");
    assert!(text.contains("filename=\"pin.png\""), "{text}");
    assert!(text.contains("expires in 15 minutes"), "{text}");
}

#[tokio::test]
async fn bad_addresses_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mailer::new(&MailConfig::default(), dir.path().into()).unwrap();
    let mut bad = mail();
    bad.to_email = "not an address".into();
    assert_eq!(
        m.send(&bad).await.unwrap_err().uri(),
        crate::error::uri::INVALID_ARGUMENT
    );
}

/// A minimal SMTP server: accepts one message and hands back its DATA.
async fn fake_smtp() -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut data = String::new();
        let mut in_data = false;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    w.write_all(b"250 queued\r\n").await.unwrap();
                } else {
                    data.push_str(&line);
                }
                continue;
            }
            let cmd = line.to_ascii_uppercase();
            let reply: &[u8] = if cmd.starts_with("EHLO") {
                b"250 fake\r\n"
            } else if cmd.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if cmd.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            w.write_all(reply).await.unwrap();
        }
        data
    });
    (port, task)
}

#[tokio::test]
async fn smtp_delivery() {
    let (port, server) = fake_smtp().await;
    let config = MailConfig {
        from: "CDC <cdc@example.org>".into(),
        smtp: Some(crate::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::None,
            username: None,
            password: None,
        }),
    };
    let m = Mailer::new(&config, "/nonexistent".into()).unwrap();
    assert!(m.outbox().is_none());
    m.send(&mail()).await.unwrap();
    let data = server.await.unwrap();
    assert_eq!(pin_from_message(&data).as_deref(), Some("ACDE-FHJK-MNPQ"));
    assert!(data.contains("From: CDC <cdc@example.org>"), "{data}");
}

#[tokio::test]
async fn smtp_failure_is_a_mail_error() {
    // Nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = MailConfig {
        from: "CDC <cdc@example.org>".into(),
        smtp: Some(crate::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::None,
            username: None,
            password: None,
        }),
    };
    let m = Mailer::new(&config, "/nonexistent".into()).unwrap();
    assert_eq!(
        m.send(&mail()).await.unwrap_err().uri(),
        crate::error::uri::MAIL_FAILED
    );
}

#[test]
fn env_substitution() {
    assert_eq!(substitute_env("plain").unwrap(), "plain");
    assert!(substitute_env("${CDC_TEST_SURELY_UNSET_VAR}").is_err());
}
