//! How a message leaves: one attempt at one channel (webhook and heartbeat through
//! `ureq`, email through `lettre`). Secrets (header values, SMTP credentials) are read
//! from the environment here, at the moment of sending, and go nowhere else; errors name
//! the variable, never its value.

use super::message::{Message, Ping};
use crate::config::{Channel, Email, Target};
use std::time::Duration;

/// One delivery attempt; the error is a sentence without secrets.
pub fn send(c: &Channel, m: &Message, timeout: Duration) -> Result<(), String> {
    match &c.target {
        Target::Webhook { url, headers_env } => {
            let mut req = agent(timeout).post(url.as_str());
            for (name, var) in headers_env {
                req = req.header(name.as_str(), env(var)?.as_str());
            }
            let body = serde_json::to_vec(&m.json).map_err(|e| e.to_string())?;
            req.header("Content-Type", "application/json")
                .send(&body[..])
                .map(drop)
                .map_err(http_error)
        }
        Target::Heartbeat { url } => {
            let Some(ping) = m.ping else { return Ok(()) };
            // The body is shown in the check's log (healthchecks.io keeps it).
            agent(timeout)
                .post(heartbeat_url(url, ping).as_str())
                .header("Content-Type", "text/plain; charset=utf-8")
                .send(m.subject.as_bytes())
                .map(drop)
                .map_err(http_error)
        }
        Target::Email(e) => email(e, m, timeout),
    }
}

/// `<url>` + `/start`, `/fail`, `/log` (a query string stays at the end).
pub fn heartbeat_url(url: &str, ping: Ping) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = format!("{}{}", base.trim_end_matches('/'), ping.suffix());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .user_agent(format!("sqlkeep/{}", crate::VERSION))
        .build()
        .into()
}

fn env(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))
}

/// An HTTP failure in words; never the URL (its path may hold a token).
fn http_error(e: ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::BadUri(_) => "invalid URL".into(),
        ureq::Error::Tls(msg) => format!("TLS: {msg}"),
        ureq::Error::Rustls(e) => format!("TLS: {e}"),
        other => format!(
            "HTTP: {}",
            other.to_string().split(" for ").next().unwrap_or("")
        ),
    }
}

fn email(e: &Email, m: &Message, timeout: Duration) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{SmtpTransport, Transport};

    let mut builder = lettre::Message::builder()
        .from(e.from.parse().map_err(|x| format!("from: {x}"))?)
        .subject(&m.subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &e.to {
        builder = builder.to(to.parse().map_err(|x| format!("to: {x}"))?);
    }
    let message = builder.body(m.text.clone()).map_err(|x| x.to_string())?;

    let uri: ureq::http::Uri = e.smtp.parse().map_err(|_| "invalid SMTP URL".to_string())?;
    let host = uri.host().unwrap_or_default();
    let implicit_tls = uri.scheme_str() == Some("smtps");
    let port = uri.port_u16().unwrap_or(match (implicit_tls, e.starttls) {
        (true, _) => 465,
        (false, true) => 587,
        (false, false) => 25,
    });
    let mut t = if implicit_tls {
        SmtpTransport::relay(host).map_err(smtp_error)?
    } else if e.starttls {
        SmtpTransport::starttls_relay(host).map_err(smtp_error)?
    } else {
        SmtpTransport::builder_dangerous(host)
    }
    .port(port)
    .timeout(Some(timeout));
    if let (Some(u), Some(p)) = (&e.username_env, &e.password_env) {
        t = t.credentials(Credentials::new(env(u)?, env(p)?));
    }
    t.build().send(&message).map(drop).map_err(smtp_error)
}

/// An SMTP failure in words. lettre's errors carry the server's reply, never the
/// credentials.
fn smtp_error(e: lettre::transport::smtp::Error) -> String {
    format!("SMTP: {e}")
}
