#Requires -Version 7.4
<#
.SYNOPSIS
    Dispatch benchmarks: how soon a submitted job's process starts under an idle agent, and what an agent costs in
    CPU and memory while many jobs run at once.
.DESCRIPTION
    Latency: an idle agent (Start-WandbLaunchAgent, local-process queue) runs in its own pwsh process; StoreBench
    (bench/StoreBench, the engine's public API) submits one job at a time, reading the clock just before PushAsync.
    Each job runs a tiny C probe (compiled here; `sh -c date` if no C compiler) whose first act is to read
    CLOCK_REALTIME and write it to a file. Between jobs, StoreBench spawns the same probe itself the way the
    local-process runner does, which gives the bare process-spawn cost; net latency = raw - median spawn cost.

    Load: an agent with -MaxJobs 200 (then -1, unlimited) runs 200 `sleep` jobs at once; its process's CPU time
    (/proc/<pid>/stat utime+stime) and resident memory (/proc/<pid>/status VmRSS) are sampled every second for
    -SteadySeconds, after a -IdleSeconds sample of the same agent with nothing to do.

    Idle: an agent (-MaxJobs 1) with an empty queue for -IdleAgentSeconds (default 60, after -IdleSettleSeconds, 180,
    to settle), side by side with a pwsh process that imported the module and sleeps (the floor under any agent): its
    CPU % of one core, and per second its wake-ups (voluntary context switches of all its threads,
    /proc/<pid>/task/*/status), its read and write system calls (/proc/<pid>/io syscr, syscw) and the store's
    commits (PRAGMA data_version read by this process once a second, so several commits within one second count once).

    Everything lives in a temporary folder that is removed at the end; every process started here is stopped.
    Needs a built module (dotnet pwsh ./build.ps1 -Task Build) and Linux (/proc).
.PARAMETER Samples
    Latency samples (default 200), after 10 warm-up jobs.
.PARAMETER Jobs
    Jobs running at once for the load measurement (default 200).
.PARAMETER LoadMaxJobs
    The agent's -MaxJobs for each load run (default 200 and -1).
.PARAMETER SteadySeconds
    Seconds of steady state sampled under load (default 20).
.PARAMETER IdleSeconds
    Seconds the agent is sampled idle before the jobs are submitted (default 10).
.PARAMETER IdleAgentSeconds
    Seconds the idle agent is sampled in the Idle part (default 60).
.PARAMETER IdleSettleSeconds
    Seconds the idle agent runs before it is sampled (default 180: past tiered compilation, which recompiles the
    idle loop's methods after their 30th call, 150 s at one turn every 5 s).
.PARAMETER Part
    All (default), Latency, Idle or Load.
.PARAMETER ModulePath
    The module manifest to benchmark (default: this repository's WandbLaunch.psd1).
.PARAMETER StoreBench
    A prebuilt StoreBench.dll to use instead of building bench/StoreBench.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Dispatch.ps1
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 100000)] [int] $Samples = 200,
    [ValidateRange(1, 2000)] [int] $Jobs = 200,
    [int[]] $LoadMaxJobs = @(200, -1),
    [ValidateRange(5, 600)] [int] $SteadySeconds = 20,
    [ValidateRange(0, 600)] [int] $IdleSeconds = 10,
    [ValidateRange(5, 3600)] [int] $IdleAgentSeconds = 60,
    [ValidateRange(0, 3600)] [int] $IdleSettleSeconds = 180,
    [ValidateSet('All', 'Latency', 'Idle', 'Load')] [string] $Part = 'All',
    [string] $ModulePath = (Join-Path (Split-Path $PSScriptRoot) 'WandbLaunch.psd1'),
    [string] $StoreBench
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Split-Path $PSScriptRoot
$ModulePath = (Resolve-Path $ModulePath).Path
# A build is in out/module/WandbLaunch, or in module/bin in checkouts from before build output moved under out/.
if (-not ((Test-Path (Join-Path (Split-Path $ModulePath) 'out/module/WandbLaunch/bin/WandbLaunch.Loader.dll')) -or
        (Test-Path (Join-Path (Split-Path $ModulePath) 'module/bin/WandbLaunch.Loader.dll')))) {
    throw "The module is not built: run 'dotnet pwsh ./build.ps1 -Task Build' first."
}
if (-not $IsLinux) { throw 'Measure-Dispatch.ps1 reads /proc: it runs on Linux only.' }

function Get-StoreBench {
    if ($StoreBench) { return (Resolve-Path $StoreBench).Path }
    $project = Join-Path $PSScriptRoot 'StoreBench/StoreBench.csproj'
    $log = & dotnet build $project -c Release --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "dotnet build $project failed" }
    Join-Path $PSScriptRoot '../out/build/bin/StoreBench/release/StoreBench.dll'
}

function Invoke-StoreBench([string[]] $Arguments, [switch] $Quiet) {
    $out = if ($Quiet) { & dotnet $script:benchDll @Arguments 2>$null } else { & dotnet $script:benchDll @Arguments }
    if ($LASTEXITCODE -ne 0) { throw "StoreBench $($Arguments[0]) failed (exit code $LASTEXITCODE)" }
    $out
}

# The probe: reads the clock first thing, then writes it (via a temporary file and a rename, so a reader never
# sees half of it). Static, so no dynamic loader work sits between exec and the clock reading.
$probeSource = @'
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (argc < 2) return 2;
    char text[32], tmp[4096];
    int n = snprintf(text, sizeof text, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, n) != n || close(fd) != 0) return 1;
    return rename(tmp, argv[1]) == 0 ? 0 : 1;
}
'@

function New-Probe([string] $Folder) {
    $c = Join-Path $Folder 'probe.c'
    $exe = Join-Path $Folder 'probe'
    Set-Content -Path $c -Value $probeSource
    foreach ($flags in @(@('-O2', '-static'), @('-O2'))) {
        if (-not (Get-Command cc -ErrorAction Ignore)) { break }
        & cc @flags -o $exe $c 2>$null
        if ($LASTEXITCODE -eq 0) { return @{ Argv = @($exe); Description = "C probe (cc $($flags -join ' '))" } }
    }
    @{ Argv = @('sh', '-c', 'date +%s%N > "$0.tmp" && mv "$0.tmp" "$0"'); Description = 'sh -c date +%s%N (no C compiler found)' }
}

function Start-AgentProcess([string] $Name, [int] $MaxJobs, [string] $LogPath) {
    $command = "`$ErrorActionPreference = 'Stop'; Import-Module '$ModulePath'; Start-WandbLaunchAgent -Queue bench -MaxJobs $MaxJobs -Name '$Name' *>&1 | Out-File -FilePath '$LogPath'"
    $process = Start-Process -FilePath dotnet -ArgumentList @('pwsh', '-NoProfile', '-NonInteractive', '-Command', $command) `
        -WorkingDirectory $root -PassThru -RedirectStandardOutput "$LogPath.out" -RedirectStandardError "$LogPath.err"
    $clock = [Diagnostics.Stopwatch]::StartNew()
    while ($clock.Elapsed.TotalSeconds -lt 90) {
        $agent = Get-WandbLaunchAgent -Name $Name -ErrorAction Ignore | Where-Object Status -NE 'KILLED' | Select-Object -First 1
        if ($agent) { return @{ Process = $process; Agent = $agent } }
        if ($process.HasExited) { break }
        Start-Sleep -Milliseconds 200
    }
    $log = (Get-Content "$LogPath", "$LogPath.out", "$LogPath.err" -ErrorAction Ignore) -join "`n"
    if (-not $process.HasExited) { $process.Kill($true) }
    throw "The agent did not start: $log"
}

function Stop-AgentProcess($Started) {
    if (-not $Started) { return }
    try { Stop-WandbLaunchAgent -Id $Started.Agent.Id -Wait -Timeout 60 -ErrorAction Stop } catch { Write-Warning "Stop-WandbLaunchAgent: $_" }
    if (-not $Started.Process.WaitForExit(30000)) {
        Write-Warning "agent process $($Started.Process.Id) did not exit; killing it"
        $Started.Process.Kill($true)
        $Started.Process.WaitForExit(10000) | Out-Null
    }
}

# Sleeps the agent started and may have left behind: found through the jobs' handles (pid:<pid>:<start>), killed only
# if that pid still runs `sleep`.
function Stop-LeftoverJobs {
    $left = 0
    foreach ($job in Get-WandbLaunchJob -Queue bench) {
        if ($job.Handle -notmatch '^pid:(\d+):') { continue }
        $processId = [int]$Matches[1]
        $cmdline = Get-Content "/proc/$processId/cmdline" -Raw -ErrorAction Ignore
        if ($cmdline -and ($cmdline -split "`0")[0] -match '(^|/)sleep$') {
            Stop-Process -Id $processId -Force -ErrorAction Ignore
            $left++
        }
    }
    $left
}

function Read-ProcStat([int] $ProcessId) {
    # Fields after the ')' of the command name: state is field 3, utime 14, stime 15 (1-based, man 5 proc).
    $stat = Get-Content "/proc/$ProcessId/stat" -Raw
    $fields = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
    $status = Get-Content "/proc/$ProcessId/status"
    $rssKb = [long](($status | Where-Object { $_ -like 'VmRSS:*' }) -replace '\D', '')
    $threads = [int](($status | Where-Object { $_ -like 'Threads:*' }) -replace '\D', '')
    @{ Ticks = [long]$fields[11] + [long]$fields[12]; RssMB = $rssKb / 1024; Threads = $threads; Time = [Diagnostics.Stopwatch]::GetTimestamp() }
}

function Measure-Process([int] $ProcessId, [int] $Seconds) {
    $hz = [double](& getconf CLK_TCK)
    $samples = [Collections.Generic.List[object]]::new()
    $first = $prev = Read-ProcStat $ProcessId
    $perSecond = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Seconds; $i++) {
        Start-Sleep -Seconds 1
        $now = Read-ProcStat $ProcessId
        $wall = ($now.Time - $prev.Time) / [Diagnostics.Stopwatch]::Frequency
        $perSecond.Add(100 * ($now.Ticks - $prev.Ticks) / $hz / $wall)
        $samples.Add($now)
        $prev = $now
    }
    $wallAll = ($prev.Time - $first.Time) / [Diagnostics.Stopwatch]::Frequency
    $rss = $samples | ForEach-Object RssMB
    [pscustomobject]@{
        CpuPercent    = 100 * ($prev.Ticks - $first.Ticks) / $hz / $wallAll
        MaxSecondCpu  = ($perSecond | Measure-Object -Maximum).Maximum
        RssMeanMB     = ($rss | Measure-Object -Average).Average
        RssMaxMB      = ($rss | Measure-Object -Maximum).Maximum
        Threads       = $prev.Threads
    }
}

# Wake-ups and system calls of a whole process: voluntary context switches summed over its threads (a thread that
# blocks and is woken counts one), and the read/write system calls in /proc/<pid>/io.
function Read-ProcActivity([int] $ProcessId) {
    $switches = 0L
    foreach ($status in Get-ChildItem "/proc/$ProcessId/task" -ErrorAction Ignore) {
        $line = Get-Content (Join-Path $status.FullName 'status') -ErrorAction Ignore | Where-Object { $_ -like 'voluntary_ctxt_switches:*' }
        if ($line) { $switches += [long]($line -replace '\D', '') }
    }
    $io = Get-Content "/proc/$ProcessId/io"
    @{
        Switches = $switches
        Reads    = [long](($io | Where-Object { $_ -like 'syscr:*' }) -replace '\D', '')
        Writes   = [long](($io | Where-Object { $_ -like 'syscw:*' }) -replace '\D', '')
    }
}

# Samples several processes over the same seconds, so that background load on the machine hits them alike.
function Measure-IdleProcesses([int[]] $ProcessIds, [int] $Seconds, [string] $Store) {
    # Microsoft.Data.Sqlite lives in the module's private load context (the module is imported above).
    $sqlite = [System.Runtime.Loader.AssemblyLoadContext]::All.Assemblies | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' } | Select-Object -First 1
    $connection = $sqlite.GetType('Microsoft.Data.Sqlite.SqliteConnection')::new("Data Source=$Store;Mode=ReadOnly")
    $connection.Open()
    try {
        $version = $connection.CreateCommand()
        $version.CommandText = 'PRAGMA data_version;'
        $last = $version.ExecuteScalar()
        $commits = 0
        $hz = [double](& getconf CLK_TCK)
        $firstStat = @($ProcessIds | ForEach-Object { Read-ProcStat $_ })
        $first = @($ProcessIds | ForEach-Object { Read-ProcActivity $_ })
        for ($i = 0; $i -lt $Seconds; $i++) {
            Start-Sleep -Seconds 1
            $now = $version.ExecuteScalar()
            if ($now -ne $last) { $commits++ }
            $last = $now
        }
        for ($p = 0; $p -lt $ProcessIds.Count; $p++) {
            $lastStat = Read-ProcStat $ProcessIds[$p]
            $end = Read-ProcActivity $ProcessIds[$p]
            $wall = ($lastStat.Time - $firstStat[$p].Time) / [Diagnostics.Stopwatch]::Frequency
            [pscustomobject]@{
                CpuPercent = 100 * ($lastStat.Ticks - $firstStat[$p].Ticks) / $hz / $wall
                Wakeups    = ($end.Switches - $first[$p].Switches) / $wall
                Reads      = ($end.Reads - $first[$p].Reads) / $wall
                Writes     = ($end.Writes - $first[$p].Writes) / $wall
                Commits    = $commits / $wall
                RssMB      = $lastStat.RssMB
                Threads    = $lastStat.Threads
            }
        }
    }
    finally {
        $connection.Dispose()
    }
}

# The floor an agent stands on: a pwsh process with the module imported and one store call made, then asleep.
function Start-IdlePwsh([string] $LogPath) {
    $command = "`$ErrorActionPreference = 'Stop'; Import-Module '$ModulePath'; Get-WandbLaunchQueue | Out-Null; Start-Sleep -Seconds 86400"
    Start-Process -FilePath dotnet -ArgumentList @('pwsh', '-NoProfile', '-NonInteractive', '-Command', $command) `
        -WorkingDirectory $root -PassThru -RedirectStandardOutput "$LogPath.out" -RedirectStandardError "$LogPath.err"
}

# The pwsh process under `dotnet pwsh` (the tool's launcher and shim are its parent and grandparent).
function Find-PwshChild([int] $LauncherId) {
    $clock = [Diagnostics.Stopwatch]::StartNew()
    while ($clock.Elapsed.TotalSeconds -lt 30) {
        foreach ($dir in Get-ChildItem /proc -Directory -ErrorAction Ignore | Where-Object Name -match '^\d+$') {
            $cmdline = Get-Content "$($dir.FullName)/cmdline" -Raw -ErrorAction Ignore
            if (-not $cmdline -or $cmdline -notmatch 'pwsh\.dll') { continue }
            $stat = Get-Content "$($dir.FullName)/stat" -Raw -ErrorAction Ignore
            if (-not $stat) { continue }
            $parent = [int]$stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[1]
            $grandStat = Get-Content "/proc/$parent/stat" -Raw -ErrorAction Ignore
            if ($parent -eq $LauncherId -or ($grandStat -and [int]$grandStat.Substring($grandStat.LastIndexOf(')') + 2).Split(' ')[1] -eq $LauncherId)) { return [int]$dir.Name }
        }
        Start-Sleep -Milliseconds 200
    }
    throw "No pwsh process started under launcher $LauncherId"
}

function Format-Load($m) {
    '{0:F2} | {1:F1} | {2:F0} | {3:F0} | {4}' -f $m.CpuPercent, $m.MaxSecondCpu, $m.RssMeanMB, $m.RssMaxMB, $m.Threads
}

$temp = Join-Path ([IO.Path]::GetTempPath()) ("wl-bench-dispatch-" + [Guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $temp | Out-Null
$savedDb = $env:WANDB_LAUNCH_DB
$started = $null
try {
    $script:benchDll = Get-StoreBench
    $env:WANDB_LAUNCH_DB = Join-Path $temp 'store/launch.db'
    Import-Module $ModulePath
    New-WandbLaunchQueue -Name bench -Resource local-process | Out-Null
    $work = Join-Path $temp 'work'
    New-Item -ItemType Directory -Path $work | Out-Null

    $load = (Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' '
    Write-Output "## Dispatch benchmarks ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC$((Get-Date).ToString('zzz')))"
    Write-Output ''
    Write-Output "Machine: $((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '.*:\s*', ''), $([Environment]::ProcessorCount) cores, Linux $(uname -r); load average at start: $load."
    Write-Output ''

    if ($Part -in 'All', 'Latency') {
        $probe = New-Probe $temp
        $started = Start-AgentProcess -Name 'bench-latency' -MaxJobs 1 -LogPath (Join-Path $temp 'agent-latency.log')
        $probeArgs = foreach ($a in $probe.Argv) { '--probe'; $a }
        Invoke-StoreBench (@('dispatch', '--store', $env:WANDB_LAUNCH_DB, '--queue', 'bench', '--dir', $work, '--samples', $Samples, '--warmup', 10) + $probeArgs)
        Write-Output "Probe: $($probe.Description). Agent: Start-WandbLaunchAgent -Queue bench -MaxJobs 1 in its own pwsh process (pid $($started.Agent.ProcessId)). Load average after: $((Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' ')."
        Write-Output ''
        Stop-AgentProcess $started
        $started = $null
    }

    if ($Part -in 'All', 'Idle') {
        $started = Start-AgentProcess -Name 'bench-idle' -MaxJobs 1 -LogPath (Join-Path $temp 'agent-idle.log')
        $bare = Start-IdlePwsh -LogPath (Join-Path $temp 'pwsh-idle.log')
        try {
            $barePid = Find-PwshChild $bare.Id
            # Past start-up: .NET recompiles a method (tiered compilation) after its first 30 calls, which an idle
            # loop turning every 5 s reaches only after 150 s; until then its CPU is mostly compiling.
            Start-Sleep -Seconds $IdleSettleSeconds
            $agentIdle, $bareIdle = Measure-IdleProcesses @($started.Agent.ProcessId, $barePid) $IdleAgentSeconds $env:WANDB_LAUNCH_DB
        }
        finally {
            if (-not $bare.HasExited) { $bare.Kill($true) }
        }
        Write-Output "### An idle agent ($IdleAgentSeconds s, empty queue, $IdleSettleSeconds s after start)"
        Write-Output ''
        Write-Output '| process | CPU % of one core | wake-ups/s | read syscalls/s | write syscalls/s | store commits/s | RSS MB | threads |'
        Write-Output '|---|---:|---:|---:|---:|---:|---:|---:|'
        $row = '| {0} | {1:F2} | {2:F1} | {3:F1} | {4:F1} | {5:F2} | {6:F0} | {7} |'
        Write-Output ($row -f "Start-WandbLaunchAgent -MaxJobs 1 (pwsh, pid $($started.Agent.ProcessId))",
            $agentIdle.CpuPercent, $agentIdle.Wakeups, $agentIdle.Reads, $agentIdle.Writes, $agentIdle.Commits, $agentIdle.RssMB, $agentIdle.Threads)
        Write-Output ($row -f "pwsh with the module imported, in Start-Sleep (pid $barePid), same seconds",
            $bareIdle.CpuPercent, $bareIdle.Wakeups, $bareIdle.Reads, $bareIdle.Writes, '—', $bareIdle.RssMB, $bareIdle.Threads)
        Write-Output ''
        Write-Output "Goal: < 0.5 % of one core. Store commits are counted once per second at most (PRAGMA data_version). Load average after: $((Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' ')."
        Write-Output ''
        Stop-AgentProcess $started
        $started = $null
    }

    if ($Part -in 'All', 'Load') {
        Write-Output "### Agent CPU and memory with $Jobs jobs running at once"
        Write-Output ''
        Write-Output '| agent | state | CPU % of one core (mean) | max 1-s CPU % | RSS MB (mean) | RSS MB (max) | threads |'
        Write-Output '|---|---|---:|---:|---:|---:|---:|'
        foreach ($max in $LoadMaxJobs) {
            $started = Start-AgentProcess -Name "bench-load$($max -replace '-', 'u')" -MaxJobs $max -LogPath (Join-Path $temp "agent-load$max.log")
            $agentPid = $started.Agent.ProcessId
            Start-Sleep -Seconds 2
            if ($IdleSeconds -gt 0) {
                $idle = Measure-Process $agentPid $IdleSeconds
                Write-Output "| -MaxJobs $max | idle, $IdleSeconds s | $(Format-Load $idle) |"
            }
            $clock = [Diagnostics.Stopwatch]::StartNew()
            Invoke-StoreBench @('push', '--store', $env:WANDB_LAUNCH_DB, '--queue', 'bench', '--dir', $work, '--count', $Jobs, '--entry', 'sleep', '--entry', '600') -Quiet | Out-Null
            do {
                Start-Sleep -Milliseconds 500
                $running = @(Get-WandbLaunchJob -Queue bench -State Running).Count
            } while ($running -lt $Jobs -and $clock.Elapsed.TotalSeconds -lt 180)
            $ramp = $clock.Elapsed.TotalSeconds
            if ($running -lt $Jobs) { throw "only $running of $Jobs jobs were running after 180 s" }
            Start-Sleep -Seconds 3
            $busy = Measure-Process $agentPid $SteadySeconds
            $still = @(Get-WandbLaunchJob -Queue bench -State Running).Count
            Write-Output "| -MaxJobs $max | $still jobs running, $SteadySeconds s (all $Jobs running $('{0:F1}' -f $ramp) s after submit) | $(Format-Load $busy) |"
            Stop-AgentProcess $started
            $started = $null
            $left = Stop-LeftoverJobs
            if ($left) { Write-Warning "killed $left leftover sleep process(es)" }
            Get-WandbLaunchJob -Queue bench -State Finished, Failed, Stopped | Remove-WandbLaunchJob -Confirm:$false
        }
        Write-Output ''
        Write-Output "Goals: < 5 % of one core and < 200 MB RSS with $Jobs jobs running. The agent process is a whole pwsh (PowerShell engine, module, .NET runtime), so its RSS includes pwsh itself. Load average after: $((Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' ')."
        Write-Output ''
    }
}
finally {
    if ($started) { Stop-AgentProcess $started }
    if (Get-Module WandbLaunch) {
        try { $null = Stop-LeftoverJobs } catch { Write-Warning "cleanup: $_" }
    }
    $env:WANDB_LAUNCH_DB = $savedDb
    Remove-Item -Recurse -Force $temp -ErrorAction Ignore
}
