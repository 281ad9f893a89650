//! One API request in, one BBB answer out: call routing, POST bodies, checksum verification on
//! the raw query string (bbb-api.md §1), then the call itself.

use super::Simulator;
use super::model::{ApiFailure, CreateFailure};
use super::params::Params;
use super::xml;
use crate::bbb::checksum::{ChecksumFailure, verify};

/// The API calls the simulator answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Create,
    Join,
    End,
    IsMeetingRunning,
    GetMeetingInfo,
    GetMeetings,
    GetRecordings,
    PublishRecordings,
    UpdateRecordings,
    DeleteRecordings,
}

impl Call {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "create" => Self::Create,
            "join" => Self::Join,
            "end" => Self::End,
            "isMeetingRunning" => Self::IsMeetingRunning,
            "getMeetingInfo" => Self::GetMeetingInfo,
            "getMeetings" => Self::GetMeetings,
            "getRecordings" => Self::GetRecordings,
            "publishRecordings" => Self::PublishRecordings,
            "updateRecordings" => Self::UpdateRecordings,
            "deleteRecordings" => Self::DeleteRecordings,
            _ => return None,
        })
    }

    /// 3.0 routes: join, publishRecordings and deleteRecordings are GET only.
    fn allows_post(self) -> bool {
        !matches!(
            self,
            Self::Join | Self::PublishRecordings | Self::DeleteRecordings
        )
    }

    /// RecordingController still uses the legacy checksum message.
    fn is_recording_call(self) -> bool {
        matches!(
            self,
            Self::GetRecordings
                | Self::PublishRecordings
                | Self::UpdateRecordings
                | Self::DeleteRecordings
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Other,
}

/// A request as it came off the wire.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest<'a> {
    pub method: Method,
    pub call: &'a str,
    pub raw_query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiReply {
    Xml(String),
    Redirect(String),
    MethodNotAllowed,
}

fn failed(key: &str, message: &str) -> ApiReply {
    ApiReply::Xml(xml::failure(&ApiFailure::new(key, message)))
}

enum Body {
    None,
    Form(Params),
    /// XML modules or multipart: accepted, not parameters.
    Document,
    Unsupported,
}

fn classify_body(content_type: Option<&str>, body: &[u8]) -> Body {
    if body.is_empty() {
        return Body::None;
    }
    let mime = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some("application/x-www-form-urlencoded") => match std::str::from_utf8(body) {
            Ok(s) => Body::Form(Params::parse(s)),
            Err(_) => Body::Unsupported,
        },
        Some("application/xml" | "text/xml" | "multipart/form-data") => Body::Document,
        _ => Body::Unsupported,
    }
}

/// VALSVC `buildQueryStringFromParamsMap`: sorted keys, `checksum` left out, Java `URLEncoder`.
fn rebuilt_query(params: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .pairs()
        .iter()
        .filter(|(k, _)| k != "checksum")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs.dedup_by(|a, b| a.0 == b.0);
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Simulator {
    /// Answer one `/bigbluebutton/api/<call>` request.
    pub(crate) fn handle_api(&self, req: ApiRequest<'_>) -> ApiReply {
        let Some(call) = Call::from_name(req.call) else {
            return failed("unsupportedRequest", "This request is not supported.");
        };
        match (req.method, call.allows_post()) {
            (Method::Get, _) | (Method::Post, true) => {}
            _ => return ApiReply::MethodNotAllowed,
        }
        match self.request_params(call, &req) {
            Ok(params) => self.dispatch(call, &params),
            Err(f) => ApiReply::Xml(xml::failure(&f)),
        }
    }

    /// The parameters of a request whose checksum holds (query first, then form body).
    pub(crate) fn request_params(
        &self,
        call: Call,
        req: &ApiRequest<'_>,
    ) -> Result<Params, ApiFailure> {
        let mut params = Params::parse(req.raw_query);
        let body = classify_body(req.content_type, req.body);
        if matches!(body, Body::Unsupported) && call == Call::Create {
            return Err(ApiFailure::new(
                "unsupportedContentType",
                "POST request Content-Type is missing or unsupported",
            ));
        }
        let body_params = match body {
            Body::Form(p) => Some(p),
            _ => None,
        };
        self.check_checksum(call, req.call, req.raw_query, &params, body_params.as_ref())?;
        for (k, v) in body_params.iter().flat_map(|p| p.pairs().iter()) {
            params.push(k.clone(), v.clone());
        }
        Ok(params)
    }

    fn check_checksum(
        &self,
        call: Call,
        name: &str,
        raw_query: &str,
        query: &Params,
        body: Option<&Params>,
    ) -> Result<(), ApiFailure> {
        let cfg = self.config();
        // BBB skips validation entirely when no shared secret is configured.
        if cfg.secret.is_empty() {
            return Ok(());
        }
        let mismatch = || {
            let msg = if call.is_recording_call() {
                "You did not pass the checksum security check"
            } else {
                "Checksums do not match"
            };
            ApiFailure::new("checksumError", msg)
        };
        // The same parameter in URL and body breaks the checksum on a real server too.
        if let Some(b) = body
            && b.pairs().iter().any(|(k, _)| query.contains(k))
        {
            return Err(mismatch());
        }
        let result = match body {
            Some(b) if !query.contains("checksum") && b.contains("checksum") => {
                self.verify_body_checksum(name, b)
            }
            _ => verify(name, raw_query, &cfg.secret, &cfg.allowed).map(|_| ()),
        };
        result.map_err(|e| match e {
            ChecksumFailure::Missing => {
                ApiFailure::new("checksumError", "You must provide the checksum")
            }
            _ => mismatch(),
        })
    }

    /// Everything in a form body: 2.x rebuilds the query from the sorted parameter map, 3.0
    /// hashes the (empty) URL query; either is accepted.
    fn verify_body_checksum(&self, name: &str, body: &Params) -> Result<(), ChecksumFailure> {
        let cfg = self.config();
        let received = body.get("checksum").unwrap_or_default();
        let candidates = [rebuilt_query(body), String::new()];
        let mut last = ChecksumFailure::Mismatch;
        for q in candidates {
            let signed = format!(
                "{q}{}checksum={received}",
                if q.is_empty() { "" } else { "&" }
            );
            match verify(name, &signed, &cfg.secret, &cfg.allowed) {
                Ok(_) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn dispatch(&self, call: Call, p: &Params) -> ApiReply {
        match call {
            Call::Create => match self.op_create(p) {
                Ok((m, dup)) => ApiReply::Xml(xml::created(&m, dup)),
                Err(CreateFailure::Single(f)) => ApiReply::Xml(xml::failure(&f)),
                Err(CreateFailure::List(list)) => ApiReply::Xml(xml::failures(&list)),
            },
            Call::Join => self.reply_join(p),
            Call::End => reply(self.op_end(p).map(|()| xml::ended())),
            Call::IsMeetingRunning => reply(self.op_is_running(p).map(xml::running)),
            Call::GetMeetingInfo => reply(self.op_meeting_info(p).map(|m| xml::meeting_info(&m))),
            Call::GetMeetings => ApiReply::Xml(xml::meetings(&self.op_meetings())),
            Call::GetRecordings => ApiReply::Xml(xml::recordings(&self.op_recordings(p))),
            Call::PublishRecordings => reply(self.op_publish(p).map(|v| xml::flag("published", v))),
            Call::UpdateRecordings => reply(self.op_update(p).map(|v| xml::flag("updated", v))),
            Call::DeleteRecordings => reply(self.op_delete(p).map(|v| xml::flag("deleted", v))),
        }
    }

    fn reply_join(&self, p: &Params) -> ApiReply {
        match self.op_join(p) {
            Ok(j) if j.redirect => ApiReply::Redirect(j.url),
            Ok(j) => ApiReply::Xml(xml::joined(&j)),
            Err(e) => match e.redirect_to {
                Some(logout) => ApiReply::Redirect(error_redirect(&logout, &e.failure)),
                None => ApiReply::Xml(xml::failure(&e.failure)),
            },
        }
    }
}

fn reply(r: Result<String, ApiFailure>) -> ApiReply {
    ApiReply::Xml(r.unwrap_or_else(|f| xml::failure(&f)))
}

/// `respondWithRedirect`: the logout URL with `errors=[{"key":…,"message":…}]` added.
pub(crate) fn error_redirect(logout: &str, f: &ApiFailure) -> String {
    let errors = serde_json::json!([{ "key": f.key, "message": f.message }]).to_string();
    let encoded: String = form_urlencoded::byte_serialize(errors.as_bytes()).collect();
    let sep = if logout.contains('?') { '&' } else { '?' };
    format!("{logout}{sep}errors={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilt_query_is_sorted_and_java_encoded() {
        let p = Params::parse("name=Test+Meeting&meetingID=abc&checksum=x&attendeePW=1");
        assert_eq!(
            rebuilt_query(&p),
            "attendeePW=1&meetingID=abc&name=Test+Meeting"
        );
    }

    #[test]
    fn error_redirect_keeps_existing_query() {
        let f = ApiFailure::new("notFound", "A meeting with that ID does not exist");
        let url = error_redirect("https://x.test/out?a=1", &f);
        assert!(url.starts_with("https://x.test/out?a=1&errors="));
        let q = url::Url::parse(&url).expect("url");
        let errors = q
            .query_pairs()
            .find(|(k, _)| k == "errors")
            .map(|(_, v)| v.into_owned())
            .expect("errors");
        let v: serde_json::Value = serde_json::from_str(&errors).expect("json");
        assert_eq!(v[0]["key"], "notFound");
    }
}
