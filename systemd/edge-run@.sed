# edge-run@.service, the per-camera template, is made from edge-run.service by this script
# (deploy/install.sh: sed -f systemd/edge-run@.sed systemd/edge-run.service), so the two
# units cannot drift apart: `systemctl enable --now edge-run@front` reads /etc/edge/front.toml
# and keeps its state, logs and working folder in edge/front; the hardening is the same and
# the optimised-model cache is shared.
1,2c\
# edge, one instance per camera: systemctl enable --now edge-run@front (reads /etc/edge/front.toml).\
# Made from edge-run.service by systemd/edge-run@.sed: the same hardening; the model cache is shared.
s|^Description=edge camera inference (edge-run)$|Description=edge camera inference (edge-run) for %i|
s|--config /etc/edge/edge.toml|--config /etc/edge/%i.toml|
s|^StateDirectory=edge$|StateDirectory=edge/%i|
s|^LogsDirectory=edge$|LogsDirectory=edge/%i|
s|^WorkingDirectory=/var/lib/edge$|WorkingDirectory=/var/lib/edge/%i|
