#!/bin/sh
# Makes the secrets the compose files (and, with `kubectl create secret`, the k8s stack) expect,
# in DIR (default: deploy/secrets). Files that exist are kept, so running it again changes nothing.
#   redis_password, redis_results_password   Redis: the encoders' cache user, the results stream user
#   medembed_token                           a bearer token for the clients (evaluator, your pipelines)
#   medembed_tokens                          the tokens the encoders accept (rotation: add, roll, remove)
#   cache_mac_key                            the secret the encoders' cache values are authenticated with
#                                            (the same for every replica; rotation: README, "Security")
#   ca.crt, ca.key                           a private CA (keep ca.key off the servers)
#   encoder.crt, encoder.key                 the encoders' (and Redis's) certificate, signed by that CA
# Needs openssl. Use your own PKI instead where you have one: the servers only read PEM files.
set -eu
dir="${1:-$(dirname "$0")}"
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 022  # the files are bind-mounted into containers that run as other users; the folder is 0700

random() { openssl rand -hex 32; }
[ -s redis_password ] || random > redis_password
[ -s redis_results_password ] || random > redis_results_password
[ -s medembed_token ] || random > medembed_token
[ -s cache_mac_key ] || random > cache_mac_key
[ -s medembed_tokens ] || { echo "# accepted bearer tokens, one a line"; cat medembed_token; } > medembed_tokens

if [ ! -s ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj "/CN=medembed CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt 2>/dev/null
  chmod 600 ca.key
fi
if [ ! -s encoder.crt ]; then
  names="DNS:localhost,IP:127.0.0.1,DNS:redis,DNS:redis.medembed.svc,DNS:redis.medembed.svc.cluster.local"
  for family in open-clip timm hf torchvision; do
    names="$names,DNS:encoder-$family,DNS:encoder-$family.medembed.svc,DNS:encoder-$family.medembed.svc.cluster.local"
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=medembed encoder" \
    -keyout encoder.key -out encoder.csr 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n' "$names" \
    > encoder.ext
  openssl x509 -req -in encoder.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile encoder.ext \
    -out encoder.crt 2>/dev/null
  rm -f encoder.csr encoder.ext ca.srl
  chmod 644 encoder.key  # read inside the containers (their users differ); the folder keeps others out
fi
echo "secrets in $(pwd): redis_password redis_results_password medembed_token medembed_tokens cache_mac_key ca.crt encoder.crt encoder.key"
