#Requires -Version 7.4
<#
.SYNOPSIS
    Dispatch on a W&B server: our agent side by side with a model of W&B's agent, against the W&B stand-in.
.DESCRIPTION
    Builds and runs bench/WandbBench: -Agents agents of each kind, each on a queue of its own (max_jobs 1), on one
    W&B stand-in (tests/WandbServer) on loopback. "ours" is LaunchAgent on WandbLaunchBackend with the backend's
    cadence (docs/architecture.md, "Polling a W&B server"). "W&B model" is NOT W&B's agent (it needs Python and the
    wandb package, which cannot be installed here): it replays agent.py's loop (launchAgent each tick, pop when it has
    room, updateLaunchAgent every second tick, 10 s sleep) with the same GraphQL texts. Measures push → job start for
    idle agents (pushes at random phases) and right after work, and the requests per minute of an idle agent, from
    the stand-in's recorded calls. Prints markdown, with the machine's load average before and after.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-WandbDispatch.ps1 -Agents 10 -Rounds 4
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 100)] [int] $Agents = 10,
    [ValidateRange(1, 100)] [int] $Rounds = 4,
    [ValidateRange(10, 3600)] [int] $RateSeconds = 120,
    [ValidateRange(0, 600)] [int] $SettleSeconds = 45,
    [double[]] $After = @(1, 3, 6)
)
$ErrorActionPreference = 'Stop'
$project = Join-Path $PSScriptRoot 'WandbBench/WandbBench.csproj'
$log = & dotnet build $project -c Release --nologo -v quiet 2>&1
if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "dotnet build $project failed" }
$dll = Join-Path $PSScriptRoot '../out/build/bin/WandbBench/release/WandbBench.dll'
$load = { if (Test-Path /proc/loadavg) { (Get-Content /proc/loadavg).Split(' ')[0..2] -join ' ' } else { 'n/a' } }
$before = & $load
$arguments = @('--agents', $Agents, '--rounds', $Rounds, '--rate-seconds', $RateSeconds, '--settle-seconds', $SettleSeconds)
foreach ($d in $After) { $arguments += @('--after', $d.ToString([cultureinfo]::InvariantCulture)) }
$out = & dotnet $dll @arguments
if ($LASTEXITCODE -ne 0) { throw "WandbBench failed (exit code $LASTEXITCODE)" }
"Run $(Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm') UTC, $([Environment]::ProcessorCount) cores, load average (1/5/15 min) before: $before, after: $(& $load)"
''
$out
