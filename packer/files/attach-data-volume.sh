#!/usr/bin/env bash
# cadbox-data-volume.service: attach the persistent data volume named by this
# instance's CadboxDataVolume tag and mount it at /var/lib/cadbox, so cadbox
# finds the same store on every instance the autoscaling group launches.
#
# Every wait here is on a condition, bounded: the AWS CLI waiters poll the
# volume state (at most 40 x 15 s), udevadm waits for the device node (60 s).
set -euo pipefail
# shellcheck source=packer/files/imds.sh
source /usr/local/libexec/cadbox/imds.sh

MOUNT=/var/lib/cadbox
LABEL=cadbox-data

aws_env
vol="$(imds_tag CadboxDataVolume)"
[[ "$vol" =~ ^vol-[0-9a-f]{8,17}$ ]] || die "tag CadboxDataVolume is not a volume id: $vol"
instance="$(imds_get instance-id)"
# Nitro instances name an EBS NVMe device after its volume id.
dev_link="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${vol/-/}"

if [[ ! -e "$dev_link" ]]; then
  holder="$(aws ec2 describe-volumes --volume-ids "$vol" \
    --query 'Volumes[0].Attachments[0].InstanceId' --output text)"
  if [[ "$holder" != "$instance" ]]; then
    if [[ "$holder" != "None" ]]; then
      # The instance this one replaces is still terminating; EC2 releases
      # the volume when it is gone.
      log "$vol is attached to $holder; waiting until it is released"
    fi
    aws ec2 wait volume-available --volume-ids "$vol"
    log "attaching $vol to $instance"
    aws ec2 attach-volume --volume-id "$vol" --instance-id "$instance" --device /dev/sdf >/dev/null
  fi
  aws ec2 wait volume-in-use --volume-ids "$vol" \
    --filters "Name=attachment.instance-id,Values=$instance" "Name=attachment.status,Values=attached"
fi

udevadm settle --timeout=60
udevadm wait --timeout=60 --settle "$dev_link" || die "$dev_link did not appear"
dev="$(readlink -f "$dev_link")"

# Make a filesystem only on a brand-new volume: no signature found (blkid
# exit status 2) AND the first MiB is zeros. Any other answer is left alone.
set +e
fstype="$(blkid -p -s TYPE -o value "$dev")"
probe=$?
set -e
if [[ $probe -eq 2 ]] && [[ -z "$(head -c 1048576 "$dev" | tr -d '\0' | head -c 1)" ]]; then
  log "new volume $vol: making an XFS filesystem"
  mkfs.xfs -q -L "$LABEL" "$dev"
  fstype=xfs
elif [[ $probe -ne 0 ]]; then
  die "cannot identify the filesystem on $dev (blkid status $probe); not touching it"
fi
[[ "$fstype" == xfs ]] || die "$dev holds $fstype, expected xfs; not mounting"

if ! mountpoint -q "$MOUNT"; then
  install -d -m 0750 "$MOUNT"
  mount -t xfs -o noatime,nodev,nosuid,noexec "$dev" "$MOUNT"
fi
# Picks up a volume grown in Terraform (data_volume_size_gb); no-op otherwise.
xfs_growfs -d "$MOUNT" >/dev/null
chown cadbox:cadbox "$MOUNT"
chmod 0750 "$MOUNT"
log "$vol ($dev) mounted at $MOUNT"
