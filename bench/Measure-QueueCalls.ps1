#Requires -Version 7.4
<#
.SYNOPSIS
    Measures the warm per-call time of the queue cmdlets against a local store.
.DESCRIPTION
    In this one pwsh process: imports WandbLaunch, points WANDB_LAUNCH_DB at a new store in a temporary folder,
    creates -QueueCount queues (default 100) in one project, warms up, then times each call of

      New-WandbLaunchQueue                 a new queue (in another project, so the listing stays at -QueueCount)
      Get-WandbLaunchQueue -Name <one>     one queue of the -QueueCount, by exact name
      Get-WandbLaunchQueue                 all -QueueCount queues of the project
      reference: Get-Variable              a trivial built-in cmdlet: PowerShell's own per-call overhead

    interleaved call by call (New, Get one, Get all, reference, New, ...), so all of them see the same background
    load. Each call is timed on its own with a Stopwatch around the statement `$null = <cmdlet> ...` in a script
    loop: the time includes PowerShell's command lookup and parameter binding (what a script pays per call) but not
    formatting the output, and not Measure-Command's scriptblock overhead. Every queue has the same realistic
    Kubernetes configuration with one template variable.

    Goal: each queue cmdlet under 5 ms per warm call (median; the p95 is reported too).
.PARAMETER Calls
    Timed calls of each cmdlet (default 500).
.PARAMETER Warmup
    Untimed calls of each cmdlet first (default 50).
.PARAMETER QueueCount
    Queues in the listed project (default 100).
.PARAMETER OutFile
    Also write the results (machine, command, table, summary) as Markdown to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-QueueCalls.ps1 -Calls 1000 -OutFile out/bench/queue-calls.md
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 1000000)]
    [int] $Calls = 500,

    [ValidateRange(1, 100000)]
    [int] $Warmup = 50,

    [ValidateRange(1, 100000)]
    [int] $QueueCount = 100,

    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

$machine = Get-MachineInfo
$work = New-BenchDirectory
$savedDb = $env:WANDB_LAUNCH_DB
$env:WANDB_LAUNCH_DB = Join-Path $work 'launch.db'
Import-Module (Get-BenchModulePath) -Force

$config = @{
    namespace = 'ml'
    job       = @{ spec = @{ backoffLimit = 0; template = @{ spec = @{ containers = @(@{ resources = @{ limits = @{ cpu = '{{cpus}}'; memory = '4Gi' } } }) } } } }
}
$variables = @{ cpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 2 } }
$listProject = 'bench-list'
$newProject = 'bench-new'

try {
    for ($i = 0; $i -lt $QueueCount; $i++) {
        $null = New-WandbLaunchQueue -Name ('queue-{0:d4}' -f $i) -Project $listProject -Resource kubernetes -Configuration $config -TemplateVariable $variables
    }
    $oneName = 'queue-{0:d4}' -f [int][math]::Floor($QueueCount / 2)
    if (@(Get-WandbLaunchQueue -Project $listProject).Count -ne $QueueCount) { throw "Expected $QueueCount queues in $listProject." }

    $names = 'New-WandbLaunchQueue', 'Get-WandbLaunchQueue -Name <one>', "Get-WandbLaunchQueue (lists $QueueCount)", 'reference: Get-Variable -Name PID -ValueOnly'
    $samples = foreach ($n in $names) { , [System.Collections.Generic.List[double]]::new($Calls) }
    $sw = [System.Diagnostics.Stopwatch]::new()
    $ticksToMs = 1000.0 / [System.Diagnostics.Stopwatch]::Frequency
    $newIndex = 0
    for ($round = 0; $round -lt $Warmup + $Calls; $round++) {
        $timed = $round -ge $Warmup

        $name = 'new-{0:d6}' -f $newIndex++
        $sw.Restart()
        $null = New-WandbLaunchQueue -Name $name -Project $newProject -Resource kubernetes -Configuration $config -TemplateVariable $variables
        $sw.Stop()
        if ($timed) { $samples[0].Add($sw.ElapsedTicks * $ticksToMs) }

        $sw.Restart()
        $null = Get-WandbLaunchQueue -Name $oneName -Project $listProject
        $sw.Stop()
        if ($timed) { $samples[1].Add($sw.ElapsedTicks * $ticksToMs) }

        $sw.Restart()
        $null = Get-WandbLaunchQueue -Project $listProject
        $sw.Stop()
        if ($timed) { $samples[2].Add($sw.ElapsedTicks * $ticksToMs) }

        $sw.Restart()
        $null = Get-Variable -Name PID -ValueOnly
        $sw.Stop()
        if ($timed) { $samples[3].Add($sw.ElapsedTicks * $ticksToMs) }

        if ($timed -and ($round - $Warmup) % 50 -eq 0) {
            Write-Progress -Activity 'Measure-QueueCalls' -Status "call $($round - $Warmup + 1) of $Calls" -PercentComplete (100 * ($round - $Warmup) / $Calls)
        }
    }
    Write-Progress -Activity 'Measure-QueueCalls' -Completed

    # Sanity: the calls did what they say.
    if (@(Get-WandbLaunchQueue -Project $newProject).Count -ne $Warmup + $Calls) { throw 'New-WandbLaunchQueue did not create every queue.' }
    if (@(Get-WandbLaunchQueue -Name $oneName -Project $listProject).Count -ne 1) { throw "Get-WandbLaunchQueue -Name $oneName did not return one queue." }

    $verdicts = [System.Collections.Generic.List[string]]::new()
    $rows = for ($k = 0; $k -lt $names.Count; $k++) {
        $s = [double[]]$samples[$k]
        $median = Get-Median $s
        $goal = if ($k -eq 3) { '—' } elseif ($median -lt 5) { 'met' } else { 'NOT met' }
        if ($k -ne 3) { $verdicts.Add("$($names[$k]): $goal") }
        [ordered]@{
            'Call (warm)'       = $names[$k]
            'Median (ms)'       = '{0:N2}' -f $median
            'p95 (ms)'          = '{0:N2}' -f (Get-Percentile $s 95)
            'p99 (ms)'          = '{0:N2}' -f (Get-Percentile $s 99)
            'Min (ms)'          = '{0:N2}' -f ($s | Measure-Object -Minimum).Minimum
            'Goal < 5 ms (median)' = $goal
        }
    }

    $table = ConvertTo-MarkdownTable -Rows $rows -RightAligned 'Median (ms)', 'p95 (ms)', 'p99 (ms)', 'Min (ms)'
    $report = @(
        "### Queue cmdlets, warm per-call time ($Calls interleaved calls each after $Warmup warm-up calls, $QueueCount queues listed)"
        ''
        "Command: ``dotnet pwsh -NoProfile -File bench/Measure-QueueCalls.ps1 -Calls $Calls -Warmup $Warmup -QueueCount $QueueCount``"
        ''
        Format-MachineInfo $machine
        "- Load average at end (1/5/15 min): $(Get-LoadAverage)"
        ''
        $table
        ''
        "- Goal (< 5 ms median per warm call): $($verdicts -join '; ')."
    ) -join [Environment]::NewLine

    Save-BenchReport -Text $report -OutFile $OutFile
    $report
}
finally {
    Remove-Module WandbLaunch -ErrorAction SilentlyContinue
    $env:WANDB_LAUNCH_DB = $savedDb
    # SQLite pools connections; clear them so the store's files can be removed.
    [System.GC]::Collect()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
