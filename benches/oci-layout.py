#!/usr/bin/env python3
"""OCI image layouts for the image benchmarks (benches/compare.sh, benches/image-import.sh).

  oci-layout.py write OUT TAG COMPRESSION LAYER.tar...
      An OCI layout in OUT (created) holding one image tagged TAG (the ref.name annotation):
      the uncompressed layer tars given, base first, stored gzip (-6, no name, mtime 0) or
      uncompressed (COMPRESSION: gzip | none); a config for linux/amd64 with PATH and /bin/sh.
  oci-layout.py layers LAYOUT TAG OUTDIR
      The layers of the image TAG in LAYOUT (the first manifest when none is tagged TAG),
      decompressed (gzip, zstd via zstd(1), or plain) into OUTDIR/00.tar, 01.tar, ...
"""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def put_blob(out, path_or_bytes):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    if isinstance(path_or_bytes, bytes):
        digest = "sha256:" + hashlib.sha256(path_or_bytes).hexdigest()
        with open(os.path.join(blobs, digest[7:]), "wb") as f:
            f.write(path_or_bytes)
        return digest, len(path_or_bytes)
    digest = sha256_file(path_or_bytes)
    dest = os.path.join(blobs, digest[7:])
    os.replace(path_or_bytes, dest)
    return digest, os.path.getsize(dest)


def write(out, tag, compression, layers):
    os.makedirs(out, exist_ok=True)
    descriptors, diff_ids = [], []
    for i, layer in enumerate(layers):
        diff_ids.append(sha256_file(layer))
        tmp = os.path.join(out, "layer-%d.tmp" % i)
        if compression == "gzip":
            with open(layer, "rb") as src, open(tmp, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            media = "application/vnd.oci.image.layer.v1.tar+gzip"
        else:
            shutil.copyfile(layer, tmp)
            media = "application/vnd.oci.image.layer.v1.tar"
        digest, size = put_blob(out, tmp)
        descriptors.append({"mediaType": media, "digest": digest, "size": size})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    config_digest, config_size = put_blob(out, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": descriptors,
    }).encode()
    manifest_digest, manifest_size = put_blob(out, manifest)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "digest": manifest_digest, "size": manifest_size,
                                  "platform": {"architecture": "amd64", "os": "linux"},
                                  "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)


def layers(layout, tag, outdir):
    blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])
    index = json.load(open(os.path.join(layout, "index.json")))
    manifests = index["manifests"]
    chosen = next((m for m in manifests
                   if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag),
                  manifests[0])
    manifest = json.load(open(blob(chosen["digest"])))
    os.makedirs(outdir, exist_ok=True)
    for i, layer in enumerate(manifest["layers"]):
        src, dest = blob(layer["digest"]), os.path.join(outdir, "%02d.tar" % i)
        with open(src, "rb") as f:
            magic = f.read(4)
        if magic[:2] == b"\x1f\x8b":
            with gzip.open(src, "rb") as s, open(dest, "wb") as d:
                shutil.copyfileobj(s, d, 1 << 20)
        elif magic == b"\x28\xb5\x2f\xfd":
            with open(dest, "wb") as d:
                subprocess.run(["zstd", "-dc", src], stdout=d, check=True)
        else:
            shutil.copyfile(src, dest)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif len(sys.argv) == 5 and sys.argv[1] == "layers":
        layers(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
