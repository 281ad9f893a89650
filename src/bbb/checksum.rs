//! BBB checksums (bbb-api.md §1): `hex(digest(callName + query + secret))`, computed over the exact
//! query bytes that go on the wire, verified by the server on the raw query string.

use crate::domain::ChecksumAlgorithm;
use sha1::Digest;

/// Lower-case hex digest of `call + query + secret`.
pub fn checksum(algo: ChecksumAlgorithm, call: &str, query: &str, secret: &str) -> String {
    let input = [call.as_bytes(), query.as_bytes(), secret.as_bytes()].concat();
    match algo {
        ChecksumAlgorithm::Sha1 => hex(&sha1::Sha1::digest(&input)),
        ChecksumAlgorithm::Sha256 => hex(&sha2::Sha256::digest(&input)),
        ChecksumAlgorithm::Sha384 => hex(&sha2::Sha384::digest(&input)),
        ChecksumAlgorithm::Sha512 => hex(&sha2::Sha512::digest(&input)),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Form-encode parameters in the given order: `application/x-www-form-urlencoded` byte set
/// (only `A-Za-z0-9-._*` left as is, space as `+`), so `!'()` are escaped too (bbb-api.md §1.3).
pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(form_urlencoded::byte_serialize(k.as_ref().as_bytes()));
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(v.as_ref().as_bytes()));
    }
    out
}

/// The query with `checksum=…` appended; hash and URL use the same bytes.
pub fn sign_query(algo: ChecksumAlgorithm, call: &str, query: &str, secret: &str) -> String {
    let sum = checksum(algo, call, query, secret);
    if query.is_empty() {
        format!("checksum={sum}")
    } else {
        format!("{query}&checksum={sum}")
    }
}

/// Why a server refused a checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumFailure {
    #[error("You must provide the checksum")]
    Missing,
    #[error("checksum of length {0} matches no supported algorithm")]
    UnknownLength(usize),
    #[error("checksum algorithm {0} is not allowed on this server")]
    NotAllowed(ChecksumAlgorithm),
    #[error("Checksums do not match")]
    Mismatch,
}

/// Server-side check exactly as BBB does it: take the raw query string, cut the `checksum` pair
/// out textually (no decoding), strip control characters, pick the algorithm by the length of
/// the received checksum, compare case-insensitively.
pub fn verify(
    call: &str,
    raw_query: &str,
    secret: &str,
    allowed: &[ChecksumAlgorithm],
) -> Result<ChecksumAlgorithm, ChecksumFailure> {
    let received = raw_query
        .split('&')
        .find_map(|pair| pair.strip_prefix("checksum="))
        .ok_or(ChecksumFailure::Missing)?;
    let algo = ChecksumAlgorithm::from_hex_len(received.len())
        .ok_or(ChecksumFailure::UnknownLength(received.len()))?;
    if !allowed.contains(&algo) {
        return Err(ChecksumFailure::NotAllowed(algo));
    }
    let pair = format!("checksum={received}");
    let stripped = if let Some(i) = raw_query.find(&format!("&{pair}")) {
        format!("{}{}", &raw_query[..i], &raw_query[i + pair.len() + 1..])
    } else if let Some(i) = raw_query.find(&format!("{pair}&")) {
        format!("{}{}", &raw_query[..i], &raw_query[i + pair.len() + 1..])
    } else {
        raw_query.replacen(&pair, "", 1)
    };
    let clean: String = stripped.chars().filter(|c| !c.is_control()).collect();
    let expected = checksum(algo, call, &clean, secret);
    if expected.eq_ignore_ascii_case(received) {
        Ok(algo)
    } else {
        Err(ChecksumFailure::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChecksumAlgorithm::*;

    const DOC_SECRET: &str = "639259d4-9dd8-4b25-bf01-95f9567eaf4b";
    const DOC_QUERY: &str =
        "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444";

    #[test]
    fn official_docs_vector_sha1() {
        assert_eq!(
            checksum(Sha1, "create", DOC_QUERY, DOC_SECRET),
            "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
        );
        assert_eq!(
            sign_query(Sha1, "create", DOC_QUERY, DOC_SECRET),
            format!("{DOC_QUERY}&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17")
        );
    }

    #[test]
    fn derived_vectors_other_digests() {
        assert_eq!(
            checksum(Sha256, "create", DOC_QUERY, DOC_SECRET),
            "da9185f7f333cfdfcd6eeac32dca3777510c4c436020d8b887ba5515bd1d189e"
        );
        assert_eq!(
            checksum(Sha384, "create", DOC_QUERY, DOC_SECRET),
            "891ac633df39d0a1b4f8d597f3e190833216c4b29c4fb51ea3ca72757eeb958d6e7b49a845cf29f5c6019c7d29d029d1"
        );
        assert_eq!(
            checksum(Sha512, "create", DOC_QUERY, DOC_SECRET),
            "de73ad61d11a5c801b68d4bd6ec5248546085cefb0b25c85f3c46249ea93a3a4b120f92c0a8a58d7512cb77821884951a3b01245f3435dbbef49fff3cc3988b4"
        );
    }

    #[test]
    fn space_encoding_matters() {
        let pct = DOC_QUERY.replace("Test+Meeting", "Test%20Meeting");
        assert_eq!(
            checksum(Sha1, "create", &pct, DOC_SECRET),
            "f1ae295e2cb9a9225152334d12c9db97d2bfee5b"
        );
    }

    #[test]
    fn empty_query_hashes_call_and_secret() {
        assert_eq!(
            checksum(Sha1, "getMeetings", "", DOC_SECRET),
            "2027baa7771026e9e93392f55031535d1444c41f"
        );
        assert_eq!(
            checksum(Sha1, "hooks/list", "", DOC_SECRET),
            "15e0d31c1b67ccc0bc9af5d714c6557f02b62cc5"
        );
    }

    #[test]
    fn ruby_gem_vectors_order_matters() {
        let secret = "1234567890abcdefghijkl";
        assert_eq!(
            checksum(Sha1, "join", "param1=value1&param2=value2", secret),
            "67882ae54f49600f56f358c10d24697ef7d8c6b2"
        );
        assert_eq!(
            checksum(Sha256, "join", "param1=value1&param2=value2", secret),
            "0e7b1611809fad890a114dddae1a37fecf14c28971afc10ee3eac432da5b8b41"
        );
        assert_eq!(
            checksum(Sha1, "join", "param2=value2&param1=value1", secret),
            "85a54e28e4ec18bfdcb214a73f74d35b09a84176"
        );
        assert_eq!(
            checksum(Sha256, "join", "param2=value2&param1=value1", secret),
            "21bf2d24c27251c4b2b2f0d5dd4b966a2f16fbfc7882e102b44c6d67f728f0c8"
        );
    }

    #[test]
    fn rust_crate_vector() {
        assert_eq!(
            checksum(
                Sha256,
                "join",
                "password=pass&fullName=name&meetingId=1",
                "BBBSECRET"
            ),
            "94e467c1b4b13f4452ca5d1deb9b7b74e1063aea55fe078139015a7d6311cfdf"
        );
    }

    #[test]
    fn encoding_is_form_style_and_escapes_quotes() {
        let q = encode_query(&[("name", "Test Meeting"), ("x", "a*b-c.d_e!'()~@$")]);
        assert_eq!(q, "name=Test+Meeting&x=a*b-c.d_e%21%27%28%29%7E%40%24");
        let doc = encode_query(&[
            ("name", "Test Meeting"),
            ("meetingID", "abc123"),
            ("attendeePW", "111222"),
            ("moderatorPW", "333444"),
        ]);
        assert_eq!(doc, DOC_QUERY);
    }

    #[test]
    fn verify_accepts_every_algorithm_and_position() {
        for algo in ChecksumAlgorithm::ALL {
            let signed = sign_query(algo, "create", DOC_QUERY, DOC_SECRET);
            assert_eq!(
                verify("create", &signed, DOC_SECRET, &ChecksumAlgorithm::ALL),
                Ok(algo)
            );
            // checksum first in the query
            let sum = checksum(algo, "create", DOC_QUERY, DOC_SECRET);
            let first = format!("checksum={sum}&{DOC_QUERY}");
            assert_eq!(
                verify("create", &first, DOC_SECRET, &ChecksumAlgorithm::ALL),
                Ok(algo)
            );
            // upper-case hex is accepted
            let upper = format!("{DOC_QUERY}&checksum={}", sum.to_uppercase());
            assert_eq!(
                verify("create", &upper, DOC_SECRET, &ChecksumAlgorithm::ALL),
                Ok(algo)
            );
        }
        let bare = sign_query(Sha1, "getMeetings", "", DOC_SECRET);
        assert_eq!(verify("getMeetings", &bare, DOC_SECRET, &[Sha1]), Ok(Sha1));
    }

    #[test]
    fn verify_rejects() {
        let signed = sign_query(Sha256, "create", DOC_QUERY, "wrong");
        assert_eq!(
            verify("create", &signed, DOC_SECRET, &ChecksumAlgorithm::ALL),
            Err(ChecksumFailure::Mismatch)
        );
        let signed = sign_query(Sha1, "create", DOC_QUERY, DOC_SECRET);
        assert_eq!(
            verify("create", &signed, DOC_SECRET, &[Sha256, Sha512]),
            Err(ChecksumFailure::NotAllowed(Sha1))
        );
        assert_eq!(
            verify("create", DOC_QUERY, DOC_SECRET, &ChecksumAlgorithm::ALL),
            Err(ChecksumFailure::Missing)
        );
        let odd = format!("{DOC_QUERY}&checksum=abc");
        assert_eq!(
            verify("create", &odd, DOC_SECRET, &ChecksumAlgorithm::ALL),
            Err(ChecksumFailure::UnknownLength(3))
        );
        // signed for another call
        let signed = sign_query(Sha256, "join", DOC_QUERY, DOC_SECRET);
        assert_eq!(
            verify("create", &signed, DOC_SECRET, &ChecksumAlgorithm::ALL),
            Err(ChecksumFailure::Mismatch)
        );
    }
}
