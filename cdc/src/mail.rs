//! Delivery of PINs by e-mail: through SMTP (lettre) when a relay is configured, otherwise as
//! RFC 5322 message files in `<cbdir>/outbox/` (written atomically), which an operator — or a
//! test — reads. Each message has a text part with the line `PIN: <token>` and the PIN drawn
//! as a PNG attachment.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, SmtpSecurity};
use crate::error::{CdcError, Result};

/// What one PIN mail says.
#[derive(Debug, Clone)]
pub struct PinMail {
    pub to_name: String,
    pub to_email: String,
    /// What the PIN confirms ("registration of user …").
    pub action: String,
    pub kind: String,
    pub verification_id: String,
    pub token: String,
    pub expires_in_secs: u64,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Sends PIN mails.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

/// `${NAME}` → the environment variable's value (for secrets kept out of the config file).
fn substitute_env(s: &str) -> std::result::Result<String, String> {
    match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(var) => {
            std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
        }
        None => Ok(s.to_owned()),
    }
}

impl Mailer {
    /// A mailer for the configuration; `outbox` is used when no SMTP relay is configured.
    pub fn new(config: &MailConfig, outbox: PathBuf) -> std::result::Result<Mailer, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("mail.from \"{}\": {e}", config.from))?;
        let transport = match &config.smtp {
            None => Transport::Outbox(outbox),
            Some(smtp) => {
                let mut b = match smtp.security {
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                    SmtpSecurity::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(|e| format!("mail.smtp: {e}"))?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|e| format!("mail.smtp: {e}"))?,
                };
                if let Some(port) = smtp.port {
                    b = b.port(port);
                }
                if let Some(user) = &smtp.username {
                    let password = substitute_env(smtp.password.as_deref().unwrap_or_default())
                        .map_err(|e| format!("mail.smtp.password: {e}"))?;
                    b = b.credentials(Credentials::new(user.clone(), password));
                }
                b = b.timeout(Some(std::time::Duration::from_secs(30)));
                Transport::Smtp(b.build())
            }
        };
        Ok(Mailer { from, transport })
    }

    /// Where messages go when there is no SMTP relay.
    pub fn outbox(&self) -> Option<&PathBuf> {
        match &self.transport {
            Transport::Outbox(p) => Some(p),
            Transport::Smtp(_) => None,
        }
    }

    /// Builds the RFC 5322 message for `mail`.
    pub fn build(&self, mail: &PinMail) -> Result<Message> {
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_email.parse().map_err(|e| {
                CdcError::invalid(format!("invalid e-mail address \"{}\": {e}", mail.to_email))
            })?,
        );
        let minutes = mail.expires_in_secs.div_ceil(60);
        let text = format!(
            "Hello {name},\r\n\
             \r\n\
             someone asked Crossbar CDC for the {action}.\r\n\
             To confirm, call cdc.manage.verify@1 with the verification ID and the PIN below\r\n\
             (the PIN is also in the attached picture). It expires in {minutes} minutes.\r\n\
             If this was not you, ignore this message.\r\n\
             \r\n\
             Verification ID: {vid}\r\n\
             PIN: {pin}\r\n",
            name = mail.to_name,
            action = mail.action,
            vid = mail.verification_id,
            pin = mail.token,
        );
        let png = crate::pin_image::render_png(&mail.token);
        let png_type = ContentType::parse("image/png")
            .map_err(|e| CdcError::Internal(format!("content type: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Crossbar CDC: your PIN for {}", mail.kind))
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text))
                    .singlepart(Attachment::new("pin.png".into()).body(png, png_type)),
            )
            .map_err(|e| CdcError::MailFailed(format!("cannot build the mail: {e}")))
    }

    /// Delivers the PIN mail.
    pub async fn send(&self, mail: &PinMail) -> Result<()> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(message).await.map_err(|e| {
                    tracing::warn!(error = %e, to = %mail.to_email, "SMTP delivery failed");
                    CdcError::MailFailed(format!("the PIN mail could not be sent: {e}"))
                })?;
            }
            Transport::Outbox(dir) => {
                let name = format!(
                    "{}-{}-{}.eml",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or(0),
                    mail.kind,
                    mail.verification_id
                );
                let path = dir.join(name);
                let dir = dir.clone();
                let bytes = message.formatted();
                let written = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    crate::fsutil::write_atomic(&path, &bytes).map(|()| path)
                })
                .await
                .map_err(|e| CdcError::Internal(format!("outbox writer: {e}")))?;
                match written {
                    Ok(path) => {
                        tracing::info!(path = %path.display(), to = %mail.to_email, "PIN mail written to the outbox")
                    }
                    Err(e) => {
                        return Err(CdcError::MailFailed(format!(
                            "the PIN mail could not be written to the outbox: {e}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Finds the PIN in a message file written by the outbox (`PIN: <token>` line).
pub fn pin_from_message(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim_end().strip_prefix("PIN: "))
        .map(str::to_owned)
}

/// Finds the verification ID in a message file written by the outbox.
pub fn verification_id_from_message(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim_end().strip_prefix("Verification ID: "))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
