#!/usr/bin/env bash
# Packer shell provisioner (runs as root on the build instance): installs the
# cadbox binary and its units. Runs once, at AMI build time; nothing here runs
# at boot.
set -euo pipefail

: "${CADBOX_VERSION:?}" "${CADBOX_COMMIT:?}"
files="${CADBOX_FILES:-/tmp/files}"

install -m 0755 -o root -g root /tmp/cadbox /usr/local/bin/cadbox
rm -f /tmp/cadbox

# A dedicated system user with no shell and no home of its own.
if ! id -u cadbox >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/cadbox \
    --shell /sbin/nologin --comment "cadbox service" cadbox
fi
# Mount point of the persistent data volume (mounted at boot, never written
# on the root disk: cadbox.service asserts the mount).
install -d -m 0750 -o cadbox -g cadbox /var/lib/cadbox

install -d -m 0755 /etc/cadbox
install -m 0644 "$files/cadbox.env" /etc/cadbox/env
printf 'CADBOX_VERSION=%s\nCADBOX_COMMIT=%s\n' "$CADBOX_VERSION" "$CADBOX_COMMIT" >/etc/cadbox/build-info
chmod 0644 /etc/cadbox/build-info

install -d -m 0755 /usr/local/libexec/cadbox
install -m 0644 "$files/imds.sh" /usr/local/libexec/cadbox/imds.sh
for s in attach-data-volume fetch-secrets backup restore; do
  install -m 0755 "$files/$s.sh" "/usr/local/libexec/cadbox/$s.sh"
done

for u in cadbox.service cadbox-data-volume.service cadbox-secrets.service cadbox-backup.service cadbox-backup.timer; do
  install -m 0644 "$files/$u" "/etc/systemd/system/$u"
done
rm -rf "$files"

# Refuse to bake an AMI with a unit systemd objects to.
out="$(systemd-analyze verify /etc/systemd/system/cadbox*.service /etc/systemd/system/cadbox*.timer 2>&1)"
if [[ -n "$out" ]]; then
  printf '%s\n' "$out" >&2
  exit 1
fi

systemctl daemon-reload
systemctl enable cadbox-data-volume.service cadbox-secrets.service cadbox.service cadbox-backup.timer

# No SSH on the appliance: no key, no open port, and no daemon. Shell access
# is AWS Systems Manager Session Manager (the agent ships with AL2023).
systemctl disable sshd.service >/dev/null 2>&1 || true
systemctl enable amazon-ssm-agent.service
