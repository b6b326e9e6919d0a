//! Where a reference points: the registry host (Docker Hub when it names none), the repository
//! (`library/` added for Docker Hub's one-component names), and whether plain HTTP may be used.

use crate::Reference;

/// Docker Hub, the registry of names without a host.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// A reference resolved against its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `127.0.0.1:5000`, `docker.io`.
    pub(crate) registry: String,
    /// `library/busybox`, `tools/busybox`.
    pub(crate) repository: String,
    /// Plain HTTP (loopback hosts, or insecure asked for).
    pub(crate) http: bool,
}

impl Endpoint {
    pub(crate) fn of(reference: &Reference, insecure_http: bool) -> Self {
        let registry = reference.domain().unwrap_or(DOCKER_HUB).to_owned();
        let mut repository = reference.path().to_owned();
        if registry == DOCKER_HUB && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        let http = insecure_http || is_loopback(&registry);
        Self {
            registry,
            repository,
            http,
        }
    }

    /// The keys a Docker config file may file this registry's credentials under.
    pub(crate) fn config_keys(&self) -> Vec<String> {
        let mut keys = vec![
            self.registry.clone(),
            format!("https://{}", self.registry),
            format!("http://{}", self.registry),
        ];
        if self.registry == DOCKER_HUB {
            keys.splice(
                0..0,
                ["https://index.docker.io/v1/".to_owned(), "index.docker.io".to_owned()],
            );
        }
        keys
    }

    /// oci-client's reference (it maps `docker.io` to the API host itself).
    pub(crate) fn oci_reference(&self, reference: &Reference) -> oci_client::Reference {
        match (reference.tag(), reference.digest()) {
            (_, Some(digest)) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), digest.to_string())
            }
            (tag, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.unwrap_or(crate::DEFAULT_TAG).to_owned(),
            ),
        }
    }

    /// The registry host as oci-client names it in requests (and so in its protocol choice).
    pub(crate) fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "index.docker.io"
        } else {
            &self.registry
        }
    }
}

/// `localhost` and `127.0.0.0/8`, with or without a port: traffic that never leaves the machine.
fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(host, _)| host);
    host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(s: &str) -> Endpoint {
        Endpoint::of(&Reference::parse(s).unwrap(), false)
    }

    #[test]
    fn names_without_a_host_are_docker_hub_with_library_for_one_component() {
        let e = endpoint("busybox");
        assert_eq!(
            (e.registry.as_str(), e.repository.as_str(), e.http),
            ("docker.io", "library/busybox", false)
        );
        let e = endpoint("team/app:1");
        assert_eq!((e.registry.as_str(), e.repository.as_str()), ("docker.io", "team/app"));
    }

    #[test]
    fn only_loopback_registries_use_plain_http_unless_asked() {
        assert!(endpoint("127.0.0.1:5000/x").http);
        assert!(endpoint("localhost:5000/x").http);
        assert!(endpoint("localhost/x").http);
        assert!(!endpoint("example.com:5000/x").http);
        assert!(!endpoint("127.example.com/x").http);
        assert!(Endpoint::of(&Reference::parse("example.com/x").unwrap(), true).http);
    }

    #[test]
    fn oci_references_keep_tag_or_digest() {
        let d = crate::Digest::of(b"m");
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b@{d}")).unwrap();
        let o = endpoint(&r.to_string()).oci_reference(&r);
        assert_eq!(
            (o.registry(), o.repository(), o.digest()),
            ("127.0.0.1:5000", "a/b", Some(d.to_string().as_str()))
        );
        let r = Reference::parse("busybox").unwrap();
        let o = endpoint("busybox").oci_reference(&r);
        assert_eq!(
            (o.resolve_registry(), o.repository(), o.tag()),
            ("index.docker.io", "library/busybox", Some("latest"))
        );
    }
}
