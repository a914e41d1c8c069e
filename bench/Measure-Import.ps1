#Requires -Version 7.4
<#
.SYNOPSIS
    Measures what importing WandbLaunch costs a new pwsh process, next to bare pwsh and to PSResourceGet.
.DESCRIPTION
    Starts cold pwsh processes (the pwsh apphost in $PSHOME, so no `dotnet` tool resolution) and times each one's
    wall time with a Stopwatch, from Process.Start to exit:

      bare pwsh                      pwsh -NoProfile -NonInteractive -Command exit
      WandbLaunch                    ... -Command "Import-Module <repo>/WandbLaunch.psd1 -ErrorAction Stop; exit"
      PSResourceGet                  ... -Command "Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop; exit"
      WandbLaunch + first call       ... -Command "Import-Module ...; Get-WandbLaunchQueue -ErrorAction Stop; exit"
                                     (WANDB_LAUNCH_DB points at an empty store created before timing starts)
      empty module (reference)       ... -Command "Import-Module <temp>/Empty/Empty.psd1 -ErrorAction Stop; exit"
                                     (a manifest whose RootModule is a one-line psm1: what importing any manifest
                                     module costs before the module does anything of its own)

    The variants run interleaved: every round runs each variant once, and the starting variant rotates from round to
    round, so all of them see the same background load. Two untimed warm-up rounds come first (file cache, the
    module analysis cache). "Added over bare pwsh" is the median over rounds of (variant - bare pwsh) in the same
    round, "Added p90" the 90th percentile of those differences. The CPU columns are the child's user+system CPU time (getrusage of waited-for children), which other
    processes competing for the cores disturb less than wall time; the goal is judged on wall time. Every child gets
    POWERSHELL_TELEMETRY_OPTOUT=1 and POWERSHELL_UPDATECHECK=Off so that no network call adds noise.

    Goal (issue 11): WandbLaunch adds no more than PSResourceGet (which ships with pwsh) adds.
.PARAMETER Runs
    Timed runs of each variant (default 31; the machine this was written on is shared, so more runs than the minimum of 15 keep the medians steady).
.PARAMETER BaselineModulePath
    Also time the import of another build of WandbLaunch (the WandbLaunch.psd1 of another checkout, built), in the
    same interleaved rounds: a before/after comparison that sees the same background load.
.PARAMETER OutFile
    Also write the results (machine, command, table, summary) as Markdown to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Import.ps1 -Runs 31 -OutFile out/bench/import.md
#>
[CmdletBinding()]
param(
    [ValidateRange(3, 10000)]
    [int] $Runs = 31,

    [string] $BaselineModulePath,

    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

$pwsh = Get-PwshExecutable
$modulePath = Get-BenchModulePath
$machine = Get-MachineInfo
$work = New-BenchDirectory
$store = Join-Path $work 'launch.db'
$quotedModule = "'" + $modulePath.Replace("'", "''") + "'"
$emptyDir = New-Item -ItemType Directory -Path (Join-Path $work 'Empty')
Set-Content -Path (Join-Path $emptyDir 'Empty.psm1') -Value '$loaded = $true'
Set-Content -Path (Join-Path $emptyDir 'Empty.psd1') -Value "@{ RootModule = 'Empty.psm1'; ModuleVersion = '1.0.0'; GUID = '$([guid]::NewGuid())'; FunctionsToExport = @(); CmdletsToExport = @(); VariablesToExport = @(); AliasesToExport = @() }"
$quotedEmpty = "'" + (Join-Path $emptyDir 'Empty.psd1').Replace("'", "''") + "'"

$variants = @(
    [pscustomobject]@{ Key = 'bare'; Label = 'bare pwsh (`-Command exit`)'; Command = 'exit' }
    [pscustomobject]@{ Key = 'ours'; Label = 'pwsh + Import-Module WandbLaunch'; Command = "Import-Module $quotedModule -ErrorAction Stop; exit" }
    [pscustomobject]@{ Key = 'psrg'; Label = 'pwsh + Import-Module Microsoft.PowerShell.PSResourceGet'; Command = 'Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop; exit' }
    [pscustomobject]@{ Key = 'first'; Label = 'pwsh + Import-Module WandbLaunch + Get-WandbLaunchQueue (empty store)'; Command = "Import-Module $quotedModule -ErrorAction Stop; Get-WandbLaunchQueue -ErrorAction Stop; exit" }
    [pscustomobject]@{ Key = 'empty'; Label = 'reference: pwsh + Import-Module of an empty manifest module'; Command = "Import-Module $quotedEmpty -ErrorAction Stop; exit" }
)
if ($BaselineModulePath) {
    $baseline = (Resolve-Path $BaselineModulePath).Path
    Assert-ModuleBuilt $baseline
    $quotedBaseline = "'" + $baseline.Replace("'", "''") + "'"
    $variants += [pscustomobject]@{ Key = 'baseline'; Label = "baseline: pwsh + Import-Module $baseline"; Command = "Import-Module $quotedBaseline -ErrorAction Stop; exit" }
}

function Invoke-ColdPwsh {
    <# Runs one cold pwsh with the given -Command and returns its wall time and CPU time (user+sys) in milliseconds. #>
    param([string] $Command)
    $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh)
    foreach ($arg in '-NoProfile', '-NonInteractive', '-Command', $Command) { $psi.ArgumentList.Add($arg) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.Environment['WANDB_LAUNCH_DB'] = $store
    $psi.Environment['POWERSHELL_TELEMETRY_OPTOUT'] = '1'
    $psi.Environment['POWERSHELL_UPDATECHECK'] = 'Off'
    $cpuBefore = Get-ChildCpuMilliseconds
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $process = [System.Diagnostics.Process]::Start($psi)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    $process.WaitForExit()
    $sw.Stop()
    $cpuAfter = Get-ChildCpuMilliseconds
    $exitCode = $process.ExitCode
    $process.Dispose()
    if ($exitCode -ne 0) {
        throw "pwsh -Command `"$Command`" exited with $exitCode`n$($stdout.Result)$($stderr.Result)"
    }
    [pscustomobject]@{ Wall = $sw.Elapsed.TotalMilliseconds; Cpu = if ($null -ne $cpuBefore) { $cpuAfter - $cpuBefore } else { [double]::NaN } }
}

try {
    # The empty store the first-call variant reads: created (schema and all) before anything is timed.
    $null = Invoke-ColdPwsh "Import-Module $quotedModule -ErrorAction Stop; Connect-WandbLaunch -Path '$store'; if (@(Get-WandbLaunchQueue).Count) { exit 3 }"

    $samples = @{}
    $cpuSamples = @{}
    foreach ($v in $variants) {
        $samples[$v.Key] = [System.Collections.Generic.List[double]]::new()
        $cpuSamples[$v.Key] = [System.Collections.Generic.List[double]]::new()
    }
    $warmup = 2
    for ($round = 0; $round -lt $warmup + $Runs; $round++) {
        for ($i = 0; $i -lt $variants.Count; $i++) {
            $v = $variants[($round + $i) % $variants.Count]
            $t = Invoke-ColdPwsh $v.Command
            if ($round -ge $warmup) {
                $samples[$v.Key].Add($t.Wall)
                $cpuSamples[$v.Key].Add($t.Cpu)
            }
        }
        if ($round -ge $warmup) { Write-Progress -Activity 'Measure-Import' -Status "round $($round - $warmup + 1) of $Runs" -PercentComplete (100 * ($round - $warmup + 1) / $Runs) }
    }
    Write-Progress -Activity 'Measure-Import' -Completed

    $bare = $samples['bare']
    $bareCpu = $cpuSamples['bare']
    $added = @{}
    $rows = foreach ($v in $variants) {
        $s = [double[]]$samples[$v.Key]
        $diffs = [double[]](0..($s.Count - 1) | ForEach-Object { $s[$_] - $bare[$_] })
        $added[$v.Key] = Get-Median $diffs
        $addedP90 = Get-Percentile $diffs 90
        $c = [double[]]$cpuSamples[$v.Key]
        $cpuDiffs = [double[]](0..($c.Count - 1) | ForEach-Object { $c[$_] - $bareCpu[$_] })
        [ordered]@{
            'Process'                   = $v.Label
            'Median (ms)'               = '{0:N0}' -f (Get-Median $s)
            'p25–p75 (ms)'              = '{0:N0}–{1:N0}' -f (Get-Percentile $s 25), (Get-Percentile $s 75)
            'Min (ms)'                  = '{0:N0}' -f ($s | Measure-Object -Minimum).Minimum
            'Added over bare pwsh (ms)' = if ($v.Key -eq 'bare') { '—' } else { '{0:N0}' -f $added[$v.Key] }
            'Added p90 (ms)'            = if ($v.Key -eq 'bare') { '—' } else { '{0:N0}' -f $addedP90 }
            'CPU median (ms)'           = '{0:N0}' -f (Get-Median $c)
            'CPU added (ms)'            = if ($v.Key -eq 'bare') { '—' } else { '{0:N0}' -f (Get-Median $cpuDiffs) }
        }
    }
    $ratio = $added['ours'] / $added['psrg']
    $verdict = if ($ratio -le 1.0) { 'met' } else { 'NOT met' }

    $table = ConvertTo-MarkdownTable -Rows $rows -RightAligned 'Median (ms)', 'p25–p75 (ms)', 'Min (ms)', 'Added over bare pwsh (ms)', 'Added p90 (ms)', 'CPU median (ms)', 'CPU added (ms)'
    $summary = @(
        ("- WandbLaunch import adds **$('{0:N0}' -f $added['ours']) ms**, PSResourceGet adds **$('{0:N0}' -f $added['psrg']) ms**: " +
            "ratio ours/PSResourceGet = **$('{0:N2}' -f $ratio)** (goal <= 1.00: $verdict).")
        "- Import plus the first Get-WandbLaunchQueue adds $('{0:N0}' -f $added['first']) ms over bare pwsh."
        if ($BaselineModulePath) { "- The baseline build's import adds $('{0:N0}' -f $added['baseline']) ms (ratio to PSResourceGet $('{0:N2}' -f ($added['baseline'] / $added['psrg'])))." }
        ("- An empty manifest module adds $('{0:N0}' -f $added['empty']) ms (PowerShell's fixed cost of importing any manifest module); " +
            "beyond that, WandbLaunch adds $('{0:N0}' -f ($added['ours'] - $added['empty'])) ms and PSResourceGet $('{0:N0}' -f ($added['psrg'] - $added['empty'])) ms.")
    ) -join [Environment]::NewLine
    $report = @(
        "### Import-Module cost (cold pwsh processes, $Runs interleaved runs each)"
        ''
        "Command: ``dotnet pwsh -NoProfile -File bench/Measure-Import.ps1 -Runs $Runs$(if ($BaselineModulePath) { " -BaselineModulePath $BaselineModulePath" })``"
        ''
        Format-MachineInfo $machine
        "- Load average at end (1/5/15 min): $(Get-LoadAverage)"
        ''
        $table
        ''
        $summary
    ) -join [Environment]::NewLine

    Save-BenchReport -Text $report -OutFile $OutFile
    $report
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
