<#
.SYNOPSIS
    Docker benchmarks: submit-to-container-start latency with a prebuilt image, and the time of a skipped rebuild.
.DESCRIPTION
    Needs a Docker engine (tools/Start-TestServices.ps1 starts one and builds the busybox test base image).
    1. An idle agent on a local-container queue (noop builder, prebuilt image) in its own pwsh; this process submits
       jobs one at a time; each container's first instruction prints /proc/uptime, the kernel's clock, which the
       container shares with this host; latency = that reading - the host's reading just before the submit (10 ms
       resolution).
    2. A docker-builder queue with a Dockerfile.wandb job: the first run builds; later runs of the unchanged job skip
       the build. Reported: submit → job finished for the unchanged job (the container itself exits at once), so the
       figure covers the whole skipped build: code hashing, the image check, container create/start/wait/remove.
.PARAMETER Samples
    Latency samples (default 30).
.PARAMETER OutFile
    Also write the Markdown table here.
#>
param([int] $Samples = 30, [int] $SkipSamples = 10, [string] $OutFile)
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
& (Join-Path $root 'tools/Start-TestServices.ps1') | Out-Null
if ($env:WBL_TEST_DOCKER -ne '1') { Write-Warning 'No Docker engine: skipped.'; return }
Import-Module (Join-Path $root 'WandbLaunch.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) ("wbl-bench-docker-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory $work | Out-Null
$env:WANDB_LAUNCH_DB = Join-Path $work 'launch.db'
$pwsh = Join-Path $PSHOME 'pwsh'

. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

function Start-Agent([string] $Config) {
    $script = "Import-Module '$root/WandbLaunch.psd1'; Start-WandbLaunchAgent -ConfigPath '$Config' -PollingInterval 5 *> '$work/agent-$([guid]::NewGuid().ToString('n')).log'"
    Start-Process -FilePath $pwsh -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $script -PassThru
}

try {
    # 1. Submit to container start, prebuilt image.
    New-WandbLaunchQueue -Name bench-prebuilt -Resource local-container | Out-Null
    New-WandbLaunchAgentConfig -Path "$work/prebuilt.yaml" -Queue bench-prebuilt -MaxJobs 4 -BuilderType noop | Out-Null
    $agent = Start-Agent "$work/prebuilt.yaml"
    Start-Sleep -Seconds 3
    $latencies = foreach ($i in 1..$Samples) {
        $submitted = [double](((Get-Content /proc/uptime -Raw) -split ' ')[0])
        $job = Submit-WandbLaunchJob -Queue bench-prebuilt -DockerImage $env:WBL_TEST_BASE_IMAGE -EntryPoint cat -Arguments /proc/uptime
        $done = $job | Wait-WandbLaunchJob -Timeout 60
        $line = Get-WandbLaunchJobLog -Id $done.Id | Where-Object { $_ -match '^\d+\.\d+ \d+\.\d+$' } | Select-Object -First 1
        if (-not $line) { throw "Job $($done.Id) printed no /proc/uptime reading ($($done.State))." }
        ([double](($line -split ' ')[0]) - $submitted) * 1000
    }
    Stop-WandbLaunchAgent -Name * -Wait | Out-Null
    $agent.WaitForExit(30000) | Out-Null

    # 2. Skipped rebuild of an unchanged job.
    $code = Join-Path $work 'code'
    New-Item -ItemType Directory $code | Out-Null
    "FROM $env:WBL_TEST_BASE_IMAGE`nCOPY run.sh /run.sh`nENTRYPOINT [`"sh`", `"/run.sh`"]" | Set-Content "$code/Dockerfile.wandb"
    'echo ok' | Set-Content "$code/run.sh"
    New-WandbLaunchQueue -Name bench-build -Resource local-container | Out-Null
    New-WandbLaunchAgentConfig -Path "$work/build.yaml" -Queue bench-build -MaxJobs 1 -BuilderType docker | Out-Null
    $agent = Start-Agent "$work/build.yaml"
    $buildTimes = foreach ($i in 0..$SkipSamples) {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $job = Submit-WandbLaunchJob -Queue bench-build -Uri $code -EntryPoint sh, /run.sh | Wait-WandbLaunchJob -Timeout 120
        if ($job.State -ne 'Finished') { throw "Job $($job.Id) ended $($job.State): $($job.FailureMessage)" }
        if ($i -gt 0) { $clock.Elapsed.TotalMilliseconds }
    }
    Stop-WandbLaunchAgent -Name * -Wait | Out-Null
    $agent.WaitForExit(30000) | Out-Null

    $rows = @(
        [pscustomobject]@{ Measure = 'submit → container start (prebuilt image), ms'; Samples = $latencies.Count; p50 = [math]::Round((Get-Percentile $latencies 50), 1); p95 = [math]::Round((Get-Percentile $latencies 95), 1); max = [math]::Round(($latencies | Measure-Object -Maximum).Maximum, 1) }
        [pscustomobject]@{ Measure = 'unchanged job: submit → finished (build skipped), ms'; Samples = $buildTimes.Count; p50 = [math]::Round((Get-Percentile $buildTimes 50), 1); p95 = [math]::Round((Get-Percentile $buildTimes 95), 1); max = [math]::Round(($buildTimes | Measure-Object -Maximum).Maximum, 1) }
    )
    $table = @('| measure | samples | p50 | p95 | max |', '|---|---:|---:|---:|---:|') + ($rows | ForEach-Object { "| $($_.Measure) | $($_.Samples) | $($_.p50) | $($_.p95) | $($_.max) |" })
    $table -join "`n"
    Save-BenchReport -Text ($table -join "`n") -OutFile $OutFile
}
finally {
    Get-Process pwsh -ErrorAction SilentlyContinue | Where-Object { $_.CommandLine -like "*$work*" } | Stop-Process -Force -ErrorAction SilentlyContinue
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
