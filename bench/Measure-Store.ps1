#Requires -Version 7.4
<#
.SYNOPSIS
    Local store benchmarks: push and pop+ack throughput beside bare SQLite on the same settings, the cost of
    synchronous=FULL, and pop/ack/push latency with 100,000 items in a queue.
.DESCRIPTION
    Builds and runs bench/StoreBench (a console app on the engine's public API; not part of WandbLaunch.sln).
    Throughput: interleaved rounds of engine PushAsync and PopAsync+AckAsync, and of bare single-row transactions
    (INSERT; UPDATE; a pop+ack of two UPDATE transactions) on one open connection with prepared statements, on a
    file with the store's settings (WAL, synchronous=NORMAL), then with synchronous=FULL; also the same bare
    statements on the engine's own items table. Rates are wall-clock; CPU time per operation is reported beside
    them because it is far less disturbed by other load on a shared machine.
    Deep queue: pop, ack and push latency with 100,000 pending items, with 20 pending behind 100,000 finished ones,
    and with 20 pending, interleaved.
    Durability: a child process pushes jobs and prints each id once PushAsync has returned; it is killed with
    SIGKILL at a random moment, 20 times; every printed (acknowledged) job must be in the store afterwards.
    Stores live in a temporary folder under the system temp directory (on disk, so fsync is real) that is removed
    at the end.
.PARAMETER Rounds
    Throughput rounds (default 15); every round runs every variant once, in a rotating order.
.PARAMETER Ops
    Operations per throughput run (default 400); -FullOps for the synchronous=FULL runs (default 50).
.PARAMETER Pending
    Items in the deep queue (default 100000).
.PARAMETER Iterations
    Pops (and acks and pushes) measured per queue (default 2000).
.PARAMETER KillTrials
    Durability: how many times a pushing child process is killed (default 20).
.PARAMETER Part
    All (default), Throughput, Pop or Durability.
.PARAMETER StoreBench
    A prebuilt StoreBench.dll to use instead of building bench/StoreBench (e.g. one built against an older engine).
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Store.ps1
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 1000)] [int] $Rounds = 15,
    [ValidateRange(10, 1000000)] [int] $Ops = 400,
    [ValidateRange(1, 100000)] [int] $FullOps = 50,
    [ValidateRange(1000, 10000000)] [int] $Pending = 100000,
    [ValidateRange(10, 1000000)] [int] $Iterations = 2000,
    [ValidateRange(1, 1000)] [int] $KillTrials = 20,
    [ValidateSet('All', 'Throughput', 'Pop', 'Durability')] [string] $Part = 'All',
    [string] $StoreBench
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

if ($StoreBench) {
    $dll = (Resolve-Path $StoreBench).Path
}
else {
    $project = Join-Path $PSScriptRoot 'StoreBench/StoreBench.csproj'
    $log = & dotnet build $project -c Release --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "dotnet build $project failed" }
    $dll = Join-Path $PSScriptRoot '../out/build/bin/StoreBench/release/StoreBench.dll'
}

. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

function Invoke-StoreBench([string[]] $Arguments) {
    & dotnet $dll @Arguments
    if ($LASTEXITCODE -ne 0) { throw "StoreBench $($Arguments[0]) failed (exit code $LASTEXITCODE)" }
}

$temp = Join-Path ([IO.Path]::GetTempPath()) ("wl-bench-store-" + [Guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $temp | Out-Null
try {
    $cpu = if (Test-Path /proc/cpuinfo) { (Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '.*:\s*', '' } else { 'unknown CPU' }
    $fs = if ($IsLinux) { (& df -T $temp | Select-Object -Last 1) -replace '\s+', ' ' } else { '' }
    Write-Output "## Store benchmarks ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC$((Get-Date).ToString('zzz')))"
    Write-Output ''
    Write-Output "Machine: $cpu, $([Environment]::ProcessorCount) cores, $([Runtime.InteropServices.RuntimeInformation]::OSDescription), .NET $([Environment]::Version); temp store folder on: $fs. Load average at start: $(Get-LoadAverage)."
    Write-Output ''
    if ($Part -in 'All', 'Throughput') {
        Invoke-StoreBench @('throughput', '--dir', (Join-Path $temp 'throughput'), '--rounds', $Rounds, '--ops', $Ops, '--full-ops', $FullOps)
        Write-Output "Load average after throughput: $(Get-LoadAverage)."
        Write-Output ''
    }
    if ($Part -in 'All', 'Pop') {
        Invoke-StoreBench @('pop', '--dir', (Join-Path $temp 'pop'), '--pending', $Pending, '--iterations', $Iterations) 2>$null
        Write-Output "Load average after the deep-queue run: $(Get-LoadAverage)."
        Write-Output ''
    }
    if ($Part -in 'All', 'Durability') {
        Invoke-StoreBench @('killtest', '--dir', (Join-Path $temp 'kill'), '--trials', $KillTrials)
    }
}
finally {
    Remove-Item -Recurse -Force $temp -ErrorAction Ignore
}
