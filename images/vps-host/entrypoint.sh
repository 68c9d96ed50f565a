#!/bin/sh
# Boots the TEST HOST: the deploy user's key, the engine's pre-existing
# daemon.json (what a user already had there), the Docker service, then sshd
# in the foreground.
set -eu
ssh-keygen -A >/dev/null
if [ -n "${VPS_AUTHORIZED_KEY:-}" ]; then
  install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
  printf '%s\n' "$VPS_AUTHORIZED_KEY" > /home/deploy/.ssh/authorized_keys
  chown deploy:deploy /home/deploy/.ssh/authorized_keys
  chmod 0600 /home/deploy/.ssh/authorized_keys
fi
# Only on first boot: afterwards the file is the docker_host role's to merge.
if [ -n "${VPS_DAEMON_JSON:-}" ] && [ ! -e /etc/docker/daemon.json ]; then
  install -d -m 0755 /etc/docker
  printf '%s\n' "$VPS_DAEMON_JSON" > /etc/docker/daemon.json
fi
service docker start
install -d -m 0755 /run/sshd
exec /usr/sbin/sshd -D -e
