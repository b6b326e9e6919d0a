//! The network side of a pull: oci-client on a single-threaded tokio runtime that lives on its
//! own thread for the duration of one pull. The importing thread sends requests and reads
//! answers over channels, so the blocking API works from any thread, also one inside another
//! runtime (where `Runtime::block_on` would panic). A blob streams through a bounded channel:
//! the registry is read only as fast as the store takes the bytes, and a reader that stops
//! (a digest mismatch, an unpack error) ends the download.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::credentials::Auth;
use super::endpoint::Endpoint;
use crate::Error;
use crate::import::json::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

/// Chunks of a blob in flight between the runtime thread and the reader.
const CHUNKS_IN_FLIGHT: usize = 16;
/// A registry that accepts no connection, or sends nothing, for this long fails the pull.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request failed, as far as the caller cares.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    NotFound,
    Unauthorized,
    /// oci-client found a manifest that is not its digest (or the registry's digest header).
    Digest {
        expected: String,
        actual: String,
    },
    Other(String),
}

enum Command {
    Manifest {
        reference: Reference,
        reply: SyncSender<Result<bytes::Bytes, Failure>>,
    },
    Blob {
        reference: Reference,
        descriptor: OciDescriptor,
        reply: SyncSender<Message>,
    },
}

enum Message {
    /// The registry answered 200: data follows.
    Started,
    Data(bytes::Bytes),
    End,
    Failed(Failure),
}

/// The runtime thread; stopped and joined on drop.
pub(crate) struct Fetcher {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Fetcher {
    pub(crate) fn start(endpoint: &Endpoint, auth: &Auth) -> Result<Self, Error> {
        let mut config = oci_client::client::ClientConfig {
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // Indexes are resolved by the import's own platform choice.
            platform_resolver: None,
            ..Default::default()
        };
        if endpoint.http {
            config.protocol = oci_client::client::ClientProtocol::HttpsExcept(vec![endpoint.api_host().to_owned()]);
        }
        let auth = match auth {
            Auth::Anonymous => RegistryAuth::Anonymous,
            Auth::Basic(user, password) => RegistryAuth::Basic(user.clone(), password.clone()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting a tokio runtime for", &endpoint.registry, e))?;
        let (commands, requests) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("nsbox-pull".into())
            .spawn(move || serve(runtime, Client::new(config), auth, requests))
            .map_err(|e| Error::io("starting a thread for", &endpoint.registry, e))?;
        Ok(Self {
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    fn send(&self, command: Command) -> Result<(), Failure> {
        let gone = || Failure::Other("the registry client thread ended".into());
        self.commands
            .as_ref()
            .ok_or_else(gone)?
            .send(command)
            .map_err(|_| gone())
    }

    /// A manifest or index, whole (oci-client reads it whole).
    pub(crate) fn manifest(&self, reference: Reference) -> Result<bytes::Bytes, Failure> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Manifest { reference, reply })?;
        answer
            .recv()
            .unwrap_or_else(|_| Err(Failure::Other("the registry client thread ended".into())))
    }

    /// A blob as a stream, once the registry has answered its request.
    pub(crate) fn blob(&self, reference: Reference, digest: &crate::Digest, size: u64) -> Result<BlobReader, Failure> {
        let (reply, answer) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        let descriptor = OciDescriptor {
            digest: digest.to_string(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            // Never `urls`: oci-client would fetch them (foreign layers are not fetched at all).
            urls: None,
            ..Default::default()
        };
        self.send(Command::Blob {
            reference,
            descriptor,
            reply,
        })?;
        match answer.recv() {
            Ok(Message::Started) => Ok(BlobReader {
                answer,
                chunk: bytes::Bytes::new(),
                done: false,
            }),
            Ok(Message::Failed(failure)) => Err(failure),
            _ => Err(Failure::Other("the registry client thread ended".into())),
        }
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(runtime: tokio::runtime::Runtime, client: Client, auth: RegistryAuth, requests: Receiver<Command>) {
    while let Ok(command) = requests.recv() {
        runtime.block_on(async {
            match command {
                Command::Manifest { reference, reply } => {
                    let accepted = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST];
                    let result = client
                        .pull_manifest_raw(&reference, &auth, &accepted)
                        .await
                        .map(|(body, _)| body)
                        .map_err(|e| classify(&e));
                    let _ = reply.send(result);
                }
                Command::Blob {
                    reference,
                    descriptor,
                    reply,
                } => {
                    client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
                    stream_blob(&client, &reference, &descriptor, &reply).await;
                }
            }
        });
    }
}

async fn stream_blob(client: &Client, reference: &Reference, descriptor: &OciDescriptor, reply: &SyncSender<Message>) {
    let mut stream = match client.pull_blob_stream(reference, descriptor).await {
        Ok(stream) => stream,
        Err(e) => {
            let _ = reply.send(Message::Failed(classify(&e)));
            return;
        }
    };
    if reply.send(Message::Started).is_err() {
        return;
    }
    while let Some(item) = stream.next().await {
        let message = match item {
            Ok(data) => Message::Data(data),
            // oci-client checks the digest too; the reader's own check has seen the same bytes
            // and reports the mismatch as the store's typed verification error.
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<DigestError>()) => break,
            Err(e) => Message::Failed(Failure::Other(format!("reading blob {}: {e}", descriptor.digest))),
        };
        let failed = matches!(message, Message::Failed(_));
        // A send fails when the reader is gone: stop downloading.
        if reply.send(message).is_err() || failed {
            return;
        }
    }
    let _ = reply.send(Message::End);
}

/// Not found and refused apart from everything else.
fn classify(e: &OciDistributionError) -> Failure {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Failure::Unauthorized,
        E::ImageManifestNotFoundError(_) => Failure::NotFound,
        E::DigestError(DigestError::VerificationError { expected, actual }) => Failure::Digest {
            expected: expected.clone(),
            actual: actual.clone(),
        },
        E::ServerError { code: 401 | 403, .. } => Failure::Unauthorized,
        E::ServerError { code: 404, .. } => Failure::NotFound,
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                Failure::Unauthorized
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                Failure::NotFound
            } else {
                Failure::Other(e.to_string())
            }
        }
        other => Failure::Other(other.to_string()),
    }
}

/// A blob's bytes as they arrive.
pub(crate) struct BlobReader {
    answer: Receiver<Message>,
    chunk: bytes::Bytes,
    done: bool,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.answer.recv() {
                Ok(Message::Data(data)) => self.chunk = data,
                Ok(Message::End) => self.done = true,
                Ok(Message::Failed(Failure::Other(what))) => return Err(io::Error::other(what)),
                Ok(Message::Failed(failure)) => return Err(io::Error::other(format!("{failure:?}"))),
                Ok(Message::Started) | Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the registry connection ended early",
                    ));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}
