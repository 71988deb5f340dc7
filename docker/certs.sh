#!/bin/sh
# Makes the TLS files `docker compose` mounts into carelog (docker/tls/, read-only):
#   ca.pem / ca.key          a private CA for this site (keep ca.key offline afterwards)
#   server.pem / server.key  carelog's certificate for MLLP and HTTPS, for the names given
#   sender-<name>.pem/.key   one client certificate per MLLP sender (CN = the name)
#   senders.toml             the MSH-3/MSH-4 binding of each sender (edit it)
#
#   sh docker/certs.sh [-d DIR] [-n "carelog.example.org other.name"] [SENDER...]
#   e.g. sh docker/certs.sh -n carelog.hospital.org lab-feed adt-feed
#
# Uses only the openssl command line. An existing CA is reused, so running it
# again adds senders without changing the certificates already handed out.
# With a hospital CA, put its files in DIR instead and skip this script.
set -eu
DIR="$(dirname "$0")/tls"
NAMES=""
DAYS=825
while getopts d:n: opt; do
  case "$opt" in
    d) DIR="$OPTARG" ;;
    n) NAMES="$OPTARG" ;;
    *) echo "usage: $0 [-d DIR] [-n NAMES] [SENDER...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
mkdir -p "$DIR"
cd "$DIR"
umask 077

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
    -subj "/CN=carelog site CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# carelog's own certificate: the compose service names, loopback (health checks)
# and the names given with -n.
SAN="DNS:localhost,DNS:serve-a,DNS:serve-b,IP:127.0.0.1"
for name in $NAMES; do SAN="$SAN,DNS:$name"; done
if [ ! -f server.pem ]; then
  openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=carelog" \
    -keyout server.key -out server.csr
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$SAN" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "$DAYS" -sha256 -extfile server.ext -out server.pem
  rm -f server.csr server.ext
fi

[ -f senders.toml ] || printf '# certificate name = the MSH-3/MSH-4 pairs it may send (docs/tls.md)\n[senders]\n' > senders.toml
for sender in "$@"; do
  [ -f "sender-$sender.pem" ] && continue
  openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=$sender" \
    -keyout "sender-$sender.key" -out "sender-$sender.csr"
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' "$sender" > sender.ext
  openssl x509 -req -in "sender-$sender.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "$DAYS" -sha256 -extfile sender.ext -out "sender-$sender.pem"
  rm -f "sender-$sender.csr" sender.ext
  printf '"%s" = [{ msh3 = "CHANGE-ME", msh4 = "CHANGE-ME" }]\n' "$sender" >> senders.toml
done
# carelog runs as uid 10001 in the image: it must read its key, nobody else.
chmod 600 ./*.key ./*.srl
chmod 644 ./*.pem senders.toml
if [ "$(id -u)" = 0 ]; then
  chown 10001:10001 server.key
else
  echo "then give the key to the image's user: sudo chown 10001 $(pwd)/server.key" >&2
fi
echo "TLS files in $(pwd): give each sender its sender-<name>.pem/.key and ca.pem;" \
     "edit senders.toml; then: docker compose -f docker/compose.yaml up" >&2
