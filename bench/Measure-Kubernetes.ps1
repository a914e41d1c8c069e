#Requires -Version 7.4
<#
.SYNOPSIS
    Kubernetes benchmarks: manifest rendering time, and an agent's CPU and memory while it follows many Kubernetes
    jobs on the loopback API server.
.DESCRIPTION
    Rendering (bench/KubeBench `render`): JobManifest.Render then JobManifest.ToYaml for the queue configs in
    bench/KubeBench/configs (copies of the kube tests' golden inputs, plus the monitoring benchmark's own queue),
    on a job context made once per config, -Calls calls per config interleaved call by call after -Warmup rounds;
    the rendering must equal the golden file where there is one. Beside it the whole preview path behind the
    cmdlet (JobPreview.ForPush + JobPreview.Render: macros, W&B environment, reading the kubeconfig).

    Cmdlet: in this pwsh, against a temporary store with one queue per config, the warm per-call time of
    `$null = Get-WandbLaunchJobManifest -Queue <config> -DockerImage ... [-Arguments ...]`, interleaved call by call
    with a trivial reference cmdlet (Get-Variable).

    Monitoring (bench/KubeBench `monitor`): the loopback API server (tests/KubeApiServer) runs in the KubeBench
    process; an agent (max_jobs -1, builder noop) runs in a process of its own, either `console` (a LaunchAgent alone
    in a .NET process, KubeBench's `agent` mode) or `pwsh` (Start-WandbLaunchAgent in pwsh). -Jobs jobs are
    submitted to a kubernetes queue (a batch Job, the image from the job); KubeBench sets every pod Running, then
    reads the agent's CPU time and resident memory from /proc once a second: idle, with all jobs running and quiet,
    with every pod printing -LogRate lines a second, and after every Job completed. Every job must end Finished,
    every API-key Secret be deleted, every watch closed and every printed line reach the job's log.

    Everything lives in temporary folders that are removed at the end; every process started is stopped.
    Needs Linux (/proc) and, for the cmdlet and the pwsh agent, a built module (dotnet pwsh ./build.ps1 -Task Build).
.PARAMETER Calls
    Timed Render + ToYaml calls per config (default 5000), after -Warmup rounds (default 500).
.PARAMETER CmdletCalls
    Timed Get-WandbLaunchJobManifest calls per config (default 300), after -CmdletWarmup (default 30).
.PARAMETER Jobs
    Kubernetes jobs the agent follows at once (default 500).
.PARAMETER Agent
    Which agents to measure: console, pwsh (default both).
.PARAMETER Part
    All (default), Render (rendering and the cmdlet) or Monitor.
.PARAMETER ModulePath
    The module manifest for the cmdlet and the pwsh agent (default: this repository's WandbLaunch.psd1).
.PARAMETER KubeBench
    A prebuilt KubeBench.dll to use instead of building bench/KubeBench (for before/after comparisons).
.PARAMETER OutFile
    Also write the report to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Kubernetes.ps1
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Kubernetes.ps1 -Part Monitor -Agent pwsh -Jobs 200
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 10000000)] [int] $Calls = 5000,
    [ValidateRange(1, 1000000)] [int] $Warmup = 500,
    [ValidateRange(10, 100000)] [int] $CmdletCalls = 300,
    [ValidateRange(1, 10000)] [int] $CmdletWarmup = 30,
    [ValidateRange(1, 5000)] [int] $Jobs = 500,
    [ValidateRange(0, 600)] [int] $IdleSeconds = 10,
    [ValidateRange(5, 900)] [int] $SteadySeconds = 20,
    [ValidateRange(0, 100)] [int] $LogRate = 1,
    [ValidateRange(0, 900)] [int] $LogSeconds = 20,
    [ValidateRange(0, 600)] [int] $AfterSeconds = 10,
    [ValidateSet('console', 'pwsh')] [string[]] $Agent = @('console', 'pwsh'),
    [ValidateSet('All', 'Render', 'Monitor')] [string] $Part = 'All',
    [string] $ModulePath = (Join-Path (Split-Path $PSScriptRoot) 'WandbLaunch.psd1'),
    [string] $KubeBench,
    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')
if (-not $IsLinux) { throw 'Measure-Kubernetes.ps1 reads /proc: it runs on Linux only.' }
$ModulePath = (Resolve-Path $ModulePath).Path
$needsModule = $Part -in 'All', 'Render' -or ($Part -eq 'Monitor' -and $Agent -contains 'pwsh')
if ($needsModule) { Assert-ModuleBuilt $ModulePath }

function Get-KubeBench {
    if ($KubeBench) { return (Resolve-Path $KubeBench).Path }
    $project = Join-Path $PSScriptRoot 'KubeBench/KubeBench.csproj'
    $log = & dotnet build $project -c Release --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "dotnet build $project failed" }
    Get-BenchProgramPath KubeBench
}

function Invoke-KubeBench([string[]] $Arguments) {
    $out = & dotnet $script:benchDll @Arguments
    $code = $LASTEXITCODE
    $out
    if ($code -ne 0) { throw "KubeBench $($Arguments[0]) failed (exit code $code)" }
}

function Measure-ManifestCmdlet([string] $Folder) {
    # One queue per config, made from KubeBench's copies of the golden inputs, in a new store; the kube context's
    # namespace comes from a kubeconfig that points nowhere (rendering contacts nothing).
    $configs = Join-Path $Folder 'configs'
    Invoke-KubeBench @('configs', '--out', $configs) | Out-Null
    $kubeconfig = Join-Path $configs 'kubeconfig'   # written by KubeBench: context namespace ml-training
    $saved = @{ DB = $env:WANDB_LAUNCH_DB; KUBECONFIG = $env:KUBECONFIG; KEY = $env:WANDB_API_KEY }
    $env:WANDB_LAUNCH_DB = Join-Path $Folder 'store/launch.db'
    $env:KUBECONFIG = $kubeconfig
    $env:WANDB_API_KEY = 'local-0123456789abcdef0123456789abcdef01234567'
    try {
        Import-Module $ModulePath -Force
        $cases = foreach ($file in Get-ChildItem $configs -Filter '*.queue.json' | Sort-Object Name) {
            $name = $file.Name -replace '\.queue\.json$', ''
            $null = New-WandbLaunchQueue -Name $name -Resource kubernetes -ConfigurationPath $file.FullName
            $call = Get-Content (Join-Path $configs "$name.call.json") -Raw | ConvertFrom-Json -AsHashtable
            $call.Remove('ContextNamespace')
            $call['Queue'] = $name
            $text = (Get-WandbLaunchJobManifest @call).Text
            if ($text -notmatch "(?m)^kind: Secret" -or $text -notmatch "image: $([regex]::Escape($call.DockerImage))") { throw "Get-WandbLaunchJobManifest for $name rendered something unexpected:`n$text" }
            [pscustomobject]@{ Name = $name; Call = $call; Samples = [Collections.Generic.List[double]]::new($CmdletCalls) }
        }
        $reference = [Collections.Generic.List[double]]::new($CmdletCalls)
        $sw = [Diagnostics.Stopwatch]::new()
        $ticksToMs = 1000.0 / [Diagnostics.Stopwatch]::Frequency
        for ($round = 0; $round -lt $CmdletWarmup + $CmdletCalls; $round++) {
            $timed = $round -ge $CmdletWarmup
            foreach ($case in $cases) {
                $call = $case.Call
                $sw.Restart()
                $null = Get-WandbLaunchJobManifest @call
                $sw.Stop()
                if ($timed) { $case.Samples.Add($sw.ElapsedTicks * $ticksToMs) }
            }
            $sw.Restart()
            $null = Get-Variable -Name PID -ValueOnly
            $sw.Stop()
            if ($timed) { $reference.Add($sw.ElapsedTicks * $ticksToMs) }
        }
        $rows = foreach ($case in $cases) {
            $s = [double[]]$case.Samples
            [ordered]@{
                'Call (warm, `$null = ...`)' = "Get-WandbLaunchJobManifest -Queue $($case.Name) ($($case.Call.Keys.Where({ $_ -ne 'Queue' }) -join ', '))"
                'Median (ms)'              = '{0:N2}' -f (Get-Median $s)
                'p95 (ms)'                 = '{0:N2}' -f (Get-Percentile $s 95)
                'p99 (ms)'                 = '{0:N2}' -f (Get-Percentile $s 99)
                'Min (ms)'                 = '{0:N2}' -f ($s | Measure-Object -Minimum).Minimum
            }
        }
        $s = [double[]]$reference
        $rows = @($rows) + [ordered]@{
            'Call (warm, `$null = ...`)' = 'reference: Get-Variable -Name PID -ValueOnly'
            'Median (ms)'              = '{0:N2}' -f (Get-Median $s)
            'p95 (ms)'                 = '{0:N2}' -f (Get-Percentile $s 95)
            'p99 (ms)'                 = '{0:N2}' -f (Get-Percentile $s 99)
            'Min (ms)'                 = '{0:N2}' -f ($s | Measure-Object -Minimum).Minimum
        }
        ConvertTo-MarkdownTable -Rows $rows -RightAligned 'Median (ms)', 'p95 (ms)', 'p99 (ms)', 'Min (ms)'
    }
    finally {
        Remove-Module WandbLaunch -ErrorAction SilentlyContinue
        $env:WANDB_LAUNCH_DB = $saved.DB
        $env:KUBECONFIG = $saved.KUBECONFIG
        $env:WANDB_API_KEY = $saved.KEY
        [GC]::Collect()
    }
}

$machine = Get-MachineInfo
$work = New-BenchDirectory
$failed = $false
$report = [Collections.Generic.List[string]]::new()
try {
    $script:benchDll = Get-KubeBench
    $report.Add("### Kubernetes: manifest rendering and an agent following $Jobs jobs")
    $report.Add('')
    $arguments = @(
        if ($PSBoundParameters.Count -eq 0) { '' } else {
            $PSBoundParameters.GetEnumerator() | Where-Object Key -NE 'OutFile' | ForEach-Object {
                if ($_.Value -is [switch]) { "-$($_.Key)" } else { "-$($_.Key) $(@($_.Value) -join ',')" }
            }
        }) -join ' '
    $report.Add("Command: ``dotnet pwsh -NoProfile -File bench/Measure-Kubernetes.ps1$(if ($arguments.Trim()) { ' ' + $arguments.Trim() })``")
    $report.Add('')
    $report.Add((Format-MachineInfo $machine))
    $report.Add("- CPU: $((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '.*:\s*', '')")
    $report.Add('')

    if ($Part -in 'All', 'Render') {
        Write-Progress -Activity 'Measure-Kubernetes' -Status 'rendering'
        $report.AddRange([string[]](Invoke-KubeBench @('render', '--calls', $Calls, '--warmup', $Warmup)))
        Write-Progress -Activity 'Measure-Kubernetes' -Status 'Get-WandbLaunchJobManifest'
        $report.Add("#### Get-WandbLaunchJobManifest, warm per-call time in this pwsh ($CmdletCalls interleaved calls per queue after $CmdletWarmup warm-up rounds)")
        $report.Add('')
        $report.Add("Load average before: $(Get-LoadAverage).")
        $report.Add('')
        $report.Add((Measure-ManifestCmdlet (Join-Path $work 'cmdlet')))
        $report.Add('')
        $report.Add("Load average after: $(Get-LoadAverage).")
        $report.Add('')
    }

    if ($Part -in 'All', 'Monitor') {
        $report.Add("#### An agent following $Jobs Kubernetes jobs on the loopback API server")
        $report.Add('')
        foreach ($kind in $Agent) {
            Write-Progress -Activity 'Measure-Kubernetes' -Status "monitoring, $kind agent"
            $monitorArgs = @('monitor', '--dir', (Join-Path $work "monitor-$kind"), '--jobs', $Jobs, '--idle', $IdleSeconds, '--steady', $SteadySeconds,
                '--log-rate', $LogRate, '--log-seconds', $LogSeconds, '--after', $AfterSeconds, '--agent', $kind)
            if ($kind -eq 'pwsh') { $monitorArgs += @('--pwsh', (Get-PwshExecutable), '--module', $ModulePath) }
            $out = & dotnet $script:benchDll @monitorArgs
            if ($LASTEXITCODE -ne 0) { $failed = $true; Write-Warning "KubeBench monitor --agent $kind failed its checks (exit code $LASTEXITCODE)" }
            $report.AddRange([string[]]$out)
        }
        $report.Add('Goals (those of the 200-job local-process agent benchmark; issue "Kubernetes" states none of its own): under 5 % of one core and under 200 MB RSS while monitoring.')
        $report.Add('')
    }
    Write-Progress -Activity 'Measure-Kubernetes' -Completed
    $report.Add("- Load average at end (1/5/15 min): $(Get-LoadAverage)")
    $text = $report -join [Environment]::NewLine
    Save-BenchReport -Text $text -OutFile $OutFile
    $text
    if ($failed) { exit 1 }
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
