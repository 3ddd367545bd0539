//! The client's IP address, which feeds the throttles and the audit log.
//!
//! Without `TRUST_PROXY_HEADERS` it is the socket peer. Behind proxies it comes from
//! `X-Forwarded-For`, a list each proxy appends its own peer to: everything left of
//! what the first of our proxies appended was written by the client and proves
//! nothing. So the address is the hop `TRUSTED_PROXY_HOPS` places from the right (1:
//! the last one, appended by the one proxy in front of us), taken only when it parses
//! as an IP address (with or without a port); otherwise, or when the header has fewer
//! hops than that, the socket peer. `Forwarded` (RFC 7239) is not read.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

use crate::config::Settings;

/// The request's client IP, as text (IPv4-mapped IPv6 addresses as IPv4).
pub fn client_ip(req: &HttpRequest, settings: &Settings) -> Option<String> {
    let peer = req.peer_addr().map(|addr| addr.ip());
    let ip = if settings.trust_proxy_headers {
        let values: Option<Vec<&str>> = req
            .headers()
            .get_all("x-forwarded-for")
            .map(|value| value.to_str().ok())
            .collect();
        values
            .and_then(|values| forwarded_hop(&values, settings.trusted_proxy_hops))
            .or(peer)
    } else {
        peer
    };
    ip.map(|ip| ip.to_canonical().to_string())
}

/// The hop `trusted_hops` places from the right of the `X-Forwarded-For` field lines
/// `values` (several lines are one comma-separated list, in order), if it is an IP
/// address.
pub fn forwarded_hop(values: &[&str], trusted_hops: usize) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return None;
    }
    let hops: Vec<&str> = values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let index = hops.len().checked_sub(trusted_hops)?;
    hops.get(index).and_then(|hop| parse_hop(hop))
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:4711`; anything else (`unknown`, a name, garbage) is `None`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(values: &[&str], trusted_hops: usize) -> Option<String> {
        forwarded_hop(values, trusted_hops).map(|ip| ip.to_string())
    }

    #[test]
    fn the_hop_our_outermost_proxy_appended_is_taken_not_the_clients() {
        let header = ["203.0.113.9, 198.51.100.7, 192.0.2.1"];
        assert_eq!(hop(&header, 1).as_deref(), Some("192.0.2.1"));
        assert_eq!(hop(&header, 2).as_deref(), Some("198.51.100.7"));
        assert_eq!(hop(&header, 3).as_deref(), Some("203.0.113.9"));
        // A client that writes its own header only adds hops on the left.
        let forged = ["1.1.1.1, 203.0.113.9"];
        assert_eq!(hop(&forged, 1).as_deref(), Some("203.0.113.9"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let lines = ["203.0.113.9", "198.51.100.7, 192.0.2.1"];
        assert_eq!(hop(&lines, 1).as_deref(), Some("192.0.2.1"));
        assert_eq!(hop(&lines, 3).as_deref(), Some("203.0.113.9"));
    }

    #[test]
    fn too_few_hops_give_nothing() {
        assert_eq!(hop(&["192.0.2.1"], 2), None);
        assert_eq!(hop(&[], 1), None);
        assert_eq!(hop(&["192.0.2.1"], 0), None);
    }

    #[test]
    fn garbage_is_not_an_address() {
        for garbage in [
            "",
            "unknown",
            "evil.test",
            "_hidden",
            "192.0.2.1 extra",
            "300.1.1.1",
            "192.0.2",
            "[192.0.2.1]",
            "[2001:db8::1",
            "2001:db8::1]",
            "192.0.2.1:99999",
            "<script>",
            "\u{0}",
        ] {
            assert_eq!(hop(&[garbage], 1), None, "{garbage:?}");
            assert_eq!(
                hop(&[&format!("203.0.113.9, {garbage}")], 1),
                None,
                "{garbage:?} after a good hop"
            );
        }
        // Garbage to the left of the trusted hop does not matter.
        assert_eq!(
            hop(&["not an ip, <x>, 192.0.2.1"], 1).as_deref(),
            Some("192.0.2.1")
        );
        // An empty element counts as a hop (it is not skipped to reach a good one).
        assert_eq!(hop(&["192.0.2.1, "], 1), None);
    }

    #[test]
    fn ports_and_ipv6_forms_are_understood() {
        assert_eq!(hop(&["192.0.2.1:4711"], 1).as_deref(), Some("192.0.2.1"));
        assert_eq!(hop(&["2001:db8::1"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(hop(&["[2001:db8::1]"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(
            hop(&["[2001:DB8:0::1]:4711"], 1).as_deref(),
            Some("2001:db8::1"),
            "one spelling per address"
        );
        assert_eq!(hop(&[" 192.0.2.1 "], 1).as_deref(), Some("192.0.2.1"));
        // IPv4-mapped IPv6 is the IPv4 address, as the throttles count it.
        let mapped = forwarded_hop(&["::ffff:192.0.2.1"], 1).expect("an address");
        assert_eq!(mapped.to_canonical().to_string(), "192.0.2.1");
    }

    fn settings(trust: bool, hops: usize) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).expect("defaults");
        settings.trust_proxy_headers = trust;
        settings.trusted_proxy_hops = hops;
        settings
    }

    fn request(forwarded_for: &[&str]) -> HttpRequest {
        let mut req = actix_web::test::TestRequest::default()
            .peer_addr("10.0.0.5:443".parse().expect("peer"));
        for value in forwarded_for {
            req = req.append_header(("X-Forwarded-For", *value));
        }
        req.to_http_request()
    }

    #[test]
    fn the_peer_is_the_client_unless_proxy_headers_are_trusted() {
        let req = request(&["203.0.113.9"]);
        assert_eq!(
            client_ip(&req, &settings(false, 1)).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            client_ip(&req, &settings(true, 1)).as_deref(),
            Some("203.0.113.9")
        );
    }

    #[test]
    fn a_missing_short_or_unreadable_header_falls_back_to_the_peer() {
        assert_eq!(
            client_ip(&request(&[]), &settings(true, 1)).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            client_ip(&request(&["203.0.113.9"]), &settings(true, 2)).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            client_ip(&request(&["203.0.113.9, nonsense"]), &settings(true, 1)).as_deref(),
            Some("10.0.0.5")
        );
        let req = actix_web::test::TestRequest::default()
            .peer_addr("10.0.0.5:443".parse().expect("peer"))
            .insert_header((
                "X-Forwarded-For",
                actix_web::http::header::HeaderValue::from_bytes(b"203.0.113.9\xff")
                    .expect("opaque bytes"),
            ))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &settings(true, 1)).as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn two_proxies_take_the_hop_the_outer_one_appended() {
        let req = request(&["1.1.1.1, 203.0.113.9, 10.0.0.9"]);
        assert_eq!(
            client_ip(&req, &settings(true, 2)).as_deref(),
            Some("203.0.113.9")
        );
    }
}
