# Lucia's AgentHost STAND-IN (see standins/agenthost.py) with the real image's contract:
# appuser = UID/GID 1100 (and the .NET base image's app = 1654), WORKDIR /app holding
# lucia.AgentHost.dll, /app/models and /app/plugins owned by appuser, `dotnet` on PATH with the
# ASP.NET Core runtime layout, bash for health checks, and neither curl nor wget.
in_root sh -c 'groupadd -g 1100 appuser && useradd -u 1100 -g 1100 -m -d /home/appuser -s /usr/sbin/nologin appuser &&
  groupadd -g 1654 app && useradd -u 1654 -g 1654 -M -d /home/app -s /usr/sbin/nologin app'
install_dotnet_standin
mkdir -p "$ROOT/app/models" "$ROOT/app/plugins"
: >"$ROOT/app/lucia.AgentHost.dll"
chown 1100:1100 "$ROOT/app/models" "$ROOT/app/plugins"
