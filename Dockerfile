# ipamx-spy in a container: the recording proxy next to dockerd (docs/container.md).
#
#   pip wheel . -w dist/                      # ipamx-spy and its dependencies, built on the host
#   docker build --network host -t ipamx-spy .
#
# The image needs no package index: it installs the wheels in dist/. Where no registry is
# reachable, build the base image locally and pass it:
#   docker build --network host --build-arg BASE="$(scripts/build_base_image.sh)" -t ipamx-spy .
ARG BASE=python:3.11-slim
FROM ${BASE}

# Few steps: on the vfs storage driver every step, even ENV, costs a copy of the whole image.
# The managed plugin's manifest travels with the image: `ipamx-spy plugin build` reads it from
# /usr/share/ipamx-spy/plugin/config.json.
COPY dist/ plugin/config.json /tmp/build/
RUN python3 -m venv /opt/ipamx-spy \
 && /opt/ipamx-spy/bin/pip install --no-cache-dir --no-index --find-links /tmp/build ipamx-spy \
 && mkdir -p /usr/share/ipamx-spy/plugin /recordings \
 && mv /tmp/build/config.json /usr/share/ipamx-spy/plugin/config.json \
 && rm -rf /tmp/build \
 && ln -s /opt/ipamx-spy/bin/ipamx-spy /usr/local/bin/ipamx-spy \
 && ipamx-spy --version

# The working directory is /, so recordings go to /recordings (the proxy's default is
# recordings/ under the working directory): mount a host directory there.
ENTRYPOINT ["ipamx-spy"]
CMD ["proxy", "--name", "ipamx", "--compact"]
