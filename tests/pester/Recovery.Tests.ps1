# Nothing lost, nothing twice: agents killed with SIGKILL, several agent processes draining one store, and submits
# racing an agent, all with real processes and one real SQLite file.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    # Each job appends its trace id (its queue item id) to one shared file: one line per process start.
    $script:RecordScript = 'echo "$WANDB_LAUNCH_TRACE_ID" >> "$1"'

    function Submit-Many {
        <# Submits $Count recording jobs and returns their ids (fast path: one cmdlet call per job, as a user would). #>
        param([string] $Queue, [int] $Count, [string] $File, [string] $Code)
        $queueObject = Get-WandbLaunchQueue $Queue
        foreach ($i in 1..$Count) {
            (Submit-WandbLaunchJob -Queue $queueObject -Uri $Code -EntryPoint sh -Arguments '-c', $script:RecordScript, 'sh', $File -ErrorAction Stop).Id
        }
    }

    function Wait-QueueDrained {
        <# Waits until the queue has nothing pending or held; returns the seconds it took. #>
        param([string] $Queue, [double] $TimeoutSeconds)
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Wait-Until {
            $q = Get-WandbLaunchQueue $Queue
            $q.PendingCount -eq 0 -and $q.ActiveCount -eq 0
        } -TimeoutSeconds $TimeoutSeconds -IntervalMilliseconds 250 -Because "queue $Queue to drain"
        $clock.Elapsed.TotalSeconds
    }

    function Write-Timing {
        param([string] $Text)
        Write-Host "    timing: $Text"
        Add-Content -Path (Join-Path ([IO.Path]::GetTempPath()) 'wbl-recovery-timings.txt') -Value "$(Get-Date -Format o) $Text"
    }

    function Stop-AgentProcesses {
        param($Agents)
        $named = @($Agents | Where-Object { -not $_.Process.HasExited })
        if ($named) { Stop-WandbLaunchAgent -Name $named.Name -Wait -Timeout 60 -ErrorAction SilentlyContinue }
        foreach ($a in $Agents) {
            if (-not $a.Process.WaitForExit(30000)) { Stop-Process -Id $a.Process.Id -Force -ErrorAction SilentlyContinue }
        }
    }
}

Describe 'An agent killed with SIGKILL' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name rec -Resource local-process | Out-Null
    }

    It 'leaves no job held: started ones fail at stage agent with their process trees killed, the others run once' {
        $dead = Start-AgentProcess -Queue rec -MaxJobs 2 -Name doomed -Environment @{ WANDB_LAUNCH_LEASE_SECONDS = '2' }
        $replacement = $null
        try {
            Wait-AgentRegistered $dead | Out-Null
            $trees = 1..2 | ForEach-Object {
                $pidFile = Join-Path $scratch "tree-$_.pid"
                $job = Submit-WandbLaunchJob -Queue rec -Uri $code -EntryPoint sh -Arguments '-c', 'sleep 600 & echo $! > "$1"; wait', 'sh', $pidFile
                [pscustomobject]@{ Id = $job.Id; PidFile = $pidFile }
            }
            $record = Join-Path $scratch 'rec.trace'
            $waiting = 1..3 | ForEach-Object { (Submit-WandbLaunchJob -Queue rec -Uri $code -EntryPoint sh -Arguments '-c', $RecordScript, 'sh', $record).Id }

            Wait-Until { @(Get-WandbLaunchJob -Id $trees.Id -State Running).Count -eq 2 -and ($trees.PidFile | Where-Object { -not ((Test-Path $_) -and (Get-Content $_)) }).Count -eq 0 } `
                -TimeoutSeconds 30 -Because 'both long jobs to run'
            $pids = foreach ($t in $trees) { Get-JobProcessId (Get-WandbLaunchJob -Id $t.Id); [int](Get-Content $t.PidFile) }
            (Get-WandbLaunchJob -Id $waiting).State | Sort-Object -Unique | Should -Be 'Pending' -Because 'the agent is full (max_jobs 2)'

            # kill -9: no chance to stop its jobs, release its leases or report KILLED.
            Stop-Process -Id $dead.Process.Id -Force
            $dead.Process.WaitForExit(10000) | Should -BeTrue
            $pids | ForEach-Object { Test-ProcessAlive $_ | Should -BeTrue -Because 'the killed agent''s processes are orphaned, still running' }
            (Get-WandbLaunchJob -Id $trees.Id).State | Sort-Object -Unique | Should -Be 'Running'
            (Get-WandbLaunchAgent -Name doomed).Status | Should -Be 'RUNNING' -Because 'a killed agent cannot report KILLED'

            $env:WANDB_LAUNCH_LEASE_SECONDS = '2'
            try { $replacement = Start-TestAgent -Queue rec -MaxJobs 2 -Name replacement }
            finally { $env:WANDB_LAUNCH_LEASE_SECONDS = $null }

            $ended = @($trees.Id + $waiting | Wait-WandbLaunchJob -Timeout 60)
            $ended.Count | Should -Be 5
            foreach ($job in $ended | Where-Object Id -In $trees.Id) {
                $job.State | Should -Be 'Failed'
                $job.FailureStage | Should -Be 'agent'
                $job.FailureMessage | Should -BeLike '*stopped responding while the job was running*'
                $job.AgentId | Should -Be $replacement.AgentId
                $job.Attempts | Should -Be 1
                Get-WandbLaunchJobLog -Id $job.Id | Where-Object { $_ -like '`[agent`] killing process tree *' } | Should -HaveCount 1
            }
            Wait-Until { -not ($pids | Where-Object { Test-ProcessAlive $_ }) } -TimeoutSeconds 10 -Because 'the orphaned process trees to be killed'
            foreach ($job in $ended | Where-Object Id -In $waiting) {
                $job.State | Should -Be 'Finished'
                $job.Attempts | Should -Be 1
                $job.AgentId | Should -Be $replacement.AgentId
            }
            Get-Content $record | Sort-Object | Should -Be ($waiting | Sort-Object) -Because 'each waiting job ran exactly once'
            Get-WandbLaunchJob -Queue rec -State Pending, Leased, Starting, Running | Should -BeNullOrEmpty
        }
        finally {
            Stop-TestAgent $replacement
            if (-not $dead.Process.HasExited) { Stop-Process -Id $dead.Process.Id -Force }
        }
    }
    It 're-queues a job its dead agent had taken but not yet started, and ends what that agent left running' {
        # The job's code is cloned from a server that never answers, so the job stays Starting (acknowledged by
        # the agent, no process of its own yet). A later agent kills what the dead one left running for the job
        # (found by WANDB_LAUNCH_TRACE_ID: here the hanging git clone) and puts the job back on its queue.
        $hang = [Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $hang.Start()
        $port = $hang.LocalEndpoint.Port
        $findClones = {
            Get-ChildItem /proc -Directory | Where-Object Name -Match '^\d+$' | Where-Object {
                (Get-Content "/proc/$($_.Name)/cmdline" -Raw -ErrorAction SilentlyContinue) -like "*127.0.0.1:$port/*"
            } | ForEach-Object { [int]$_.Name }
        }
        $dead = Start-AgentProcess -Queue rec -MaxJobs 2 -Name doomed-starting -Environment @{ WANDB_LAUNCH_LEASE_SECONDS = '2' }
        $replacement = $null
        try {
            Wait-AgentRegistered $dead | Out-Null
            $job = Submit-WandbLaunchJob -Queue rec -Uri "https://127.0.0.1:$port/never.git" -EntryPoint sh, main.sh
            Wait-Until { (Get-WandbLaunchJobLog -Id $job.Id) -like '`[agent`] git clone*' } -TimeoutSeconds 30 -Because 'the agent to start cloning'
            (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Starting'
            Wait-Until { @(& $findClones).Count -gt 0 } -TimeoutSeconds 30 -Because 'git to be connecting'
            $leftBehind = @(& $findClones)
            Stop-Process -Id $dead.Process.Id -Force
            $dead.Process.WaitForExit(10000) | Should -BeTrue

            $env:WANDB_LAUNCH_LEASE_SECONDS = '2'
            try { $replacement = Start-TestAgent -Queue rec -Name replacement-starting }
            finally { $env:WANDB_LAUNCH_LEASE_SECONDS = $null }
            # The replacement takes the job again (attempt 2) and starts its own clone.
            Wait-Until { (Get-WandbLaunchJob -Id $job.Id).Attempts -ge 2 } -TimeoutSeconds 60 -Because 'the job to be put back and taken again'
            $again = Get-WandbLaunchJob -Id $job.Id
            $again.State | Should -BeIn @('Leased', 'Starting')
            $again.StartedAt | Should -BeNullOrEmpty
            ($again.Warnings.Message -join "`n") | Should -BeLike '*stopped responding before the job started*'
            (Get-WandbLaunchJobLog -Id $job.Id) -join "`n" | Should -BeLike '*killed * process(es) of this job left behind*'
            Wait-Until { -not ($leftBehind | Where-Object { Test-ProcessAlive $_ }) } -TimeoutSeconds 10 -Because "the dead agent's clone to be killed"

            $stopped = Stop-WandbLaunchJob -Id $job.Id -Wait -PassThru
            $stopped.State | Should -Be 'Stopped'
        }
        finally {
            Stop-TestAgent $replacement
            if (-not $dead.Process.HasExited) { Stop-Process -Id $dead.Process.Id -Force }
            & $findClones | ForEach-Object { Stop-Process -Id $_ -Force -ErrorAction SilentlyContinue }
            $hang.Stop()
        }
    }
}

Describe 'Leases of a live agent' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name long -Resource local-process | Out-Null
    }

    It 'keeps jobs that run longer than the lease: no other agent takes them over' {
        $trace = Join-Path $scratch 'long.trace'
        $env:WANDB_LAUNCH_LEASE_SECONDS = '2'
        try {
            $first = Start-TestAgent -Queue long -MaxJobs 2 -Name lease-first
            $ids = 1..2 | ForEach-Object { (Submit-WandbLaunchJob -Queue long -Uri $code -EntryPoint sh -Arguments '-c', "$RecordScript; sleep 6", 'sh', $trace).Id }
            Wait-Until { @(Get-WandbLaunchJob -Id $ids -State Running).Count -eq 2 } -Because 'both jobs to run'
            # A second agent on the queue, looking for expired leases every 2 s while the jobs run three leases long.
            $second = Start-TestAgent -Queue long -MaxJobs 2 -Name lease-second
            $ended = @($ids | Wait-WandbLaunchJob -Timeout 60)
        }
        finally {
            $env:WANDB_LAUNCH_LEASE_SECONDS = $null
            Stop-TestAgent $first, $second
        }
        foreach ($job in $ended) {
            $job.State | Should -Be 'Finished'
            $job.Attempts | Should -Be 1
            $job.AgentId | Should -Be $first.AgentId
            $job.Warnings | Should -BeNullOrEmpty
            $job.Duration.TotalSeconds | Should -BeGreaterThan 5
        }
        Get-Content $trace | Sort-Object | Should -Be ($ids | Sort-Object)
        (Receive-Job $second 3>&1 6>&1 | ForEach-Object { "$_" }) -join "`n" | Should -Not -BeLike '*took over*'
    }
}

Describe 'An agent killed while it drains a queue beside another' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name chaos -Resource local-process | Out-Null
    }

    It 'loses no job and runs none twice, wherever the kill lands' {
        $trace = Join-Path $scratch 'chaos.trace'
        $ids = @(Submit-Many -Queue chaos -Count 600 -File $trace -Code $code)
        $lease = @{ WANDB_LAUNCH_LEASE_SECONDS = '2' }
        $victim = Start-AgentProcess -Queue chaos -MaxJobs 8 -Name chaos-victim -Directory $scratch -Environment $lease
        $survivor = Start-AgentProcess -Queue chaos -MaxJobs 8 -Name chaos-survivor -Directory $scratch -Environment $lease
        try {
            Wait-AgentRegistered $victim | Out-Null
            Wait-Until { (Test-Path $trace) -and @(Get-Content $trace).Count -ge 150 } -TimeoutSeconds 60 -IntervalMilliseconds 10 -Because 'the agents to get going'
            Stop-Process -Id $victim.Process.Id -Force
            $victim.Process.WaitForExit(10000) | Should -BeTrue
            $victimId = (Get-WandbLaunchAgent -Name chaos-victim).Id
            $held = @(Get-WandbLaunchJob -Queue chaos -State Leased, Starting, Running | Where-Object AgentId -EQ $victimId)
            Write-Timing ("killed agent held {0} job(s) at the kill: {1}" -f $held.Count, (($held | Group-Object State | ForEach-Object { "$($_.Name)=$($_.Count)" }) -join ', '))
            Wait-QueueDrained -Queue chaos -TimeoutSeconds 120 | Out-Null
        }
        finally { Stop-AgentProcesses @($victim, $survivor) }

        $jobs = @(Get-WandbLaunchJob -Queue chaos)
        $jobs.Count | Should -Be 600
        Write-Timing ("after the kill: " + (($jobs | Group-Object State, Attempts | ForEach-Object { "$($_.Name -replace ', ', '/attempts ')=$($_.Count)" }) -join ', '))
        $jobs | Where-Object { $_.State -notin 'Finished', 'Failed' } | Should -BeNullOrEmpty -Because 'no job stays pending or held'
        $runs = @(Get-Content $trace) | Group-Object -AsHashTable -AsString
        $twice = @($runs.Keys | Where-Object { $runs[$_].Count -gt 1 })
        $twice | Should -BeNullOrEmpty -Because 'no job ran twice'
        foreach ($job in $jobs) {
            if ($job.State -eq 'Finished') {
                $runs.ContainsKey($job.Id) | Should -BeTrue -Because "finished job $($job.Id) ran"
            }
            else {
                $job.FailureStage | Should -Be 'agent' -Because "$($job.Id) can only have failed because its agent died"
                $job.FailureMessage | Should -BeLike '*stopped responding*'
            }
        }
        @($jobs | Where-Object State -EQ 'Failed').Count | Should -BeLessOrEqual 8 -Because 'only jobs the killed agent had started can fail'
        @($runs.Keys | Where-Object { $_ -notin $ids }) | Should -BeNullOrEmpty
    }
}

Describe 'Four agent processes draining one store' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name drain -Resource local-process | Out-Null
    }

    It 'runs each of 2,000 jobs exactly once' {
        $trace = Join-Path $scratch 'drain.trace'
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $ids = @(Submit-Many -Queue drain -Count 2000 -File $trace -Code $code)
        Write-Timing ("submitted 2,000 jobs from one process in {0:0.0} s" -f $clock.Elapsed.TotalSeconds)
        $ids.Count | Should -Be 2000

        $agents = 1..4 | ForEach-Object { Start-AgentProcess -Queue drain -MaxJobs 8 -Name "drain-$_" -Directory $scratch }
        try {
            $clock.Restart()
            $seconds = Wait-QueueDrained -Queue drain -TimeoutSeconds 600
            Write-Timing ("4 agent processes (max_jobs 8 each) drained 2,000 jobs in {0:0.0} s, {1:0} jobs/s (including pwsh start-up)" -f $seconds, (2000 / $seconds))
        }
        finally { Stop-AgentProcesses $agents }

        $jobs = @(Get-WandbLaunchJob -Queue drain)
        $jobs.Count | Should -Be 2000
        ($jobs | Group-Object State | ForEach-Object { "$($_.Name)=$($_.Count)" }) -join ', ' | Should -Be 'Finished=2000'
        ($jobs.Attempts | Sort-Object -Unique) | Should -Be 1
        $lines = @(Get-Content $trace)
        $lines.Count | Should -Be 2000 -Because 'one process start per job'
        @($lines | Sort-Object -Unique).Count | Should -Be 2000 -Because 'no job ran twice'
        Compare-Object ($lines | Sort-Object) ($ids | Sort-Object) | Should -BeNullOrEmpty
        $perAgent = $jobs | Group-Object AgentId
        Write-Timing ("jobs per agent: " + (($perAgent | ForEach-Object Count) -join ', '))
        $perAgent.Count | Should -Be 4 -Because 'every agent took a share'
        foreach ($a in $agents) {
            $a.Process.ExitCode | Should -Be 0
            Get-Content $a.ErrorPath -Raw | Should -BeNullOrEmpty
            Get-Content $a.OutputPath | Where-Object { $_ -like '*failed*' -and $_ -notlike '*0 failed or stopped*' } | Should -BeNullOrEmpty
        }
    }
}

Describe 'Submits racing an agent on one store' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name race -Resource local-process | Out-Null
    }

    It 'loses none of 500 jobs submitted by another process while the agent drains' {
        $trace = Join-Path $scratch 'race.trace'
        $idsFile = Join-Path $scratch 'race.ids'
        $agent = Start-AgentProcess -Queue race -MaxJobs 8 -Name race-agent -Directory $scratch
        $submitter = $null
        try {
            Wait-AgentRegistered $agent | Out-Null
            $script = Join-Path $scratch 'submit.ps1'
            Set-Content $script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModulePath'
`$queue = Get-WandbLaunchQueue race
foreach (`$i in 1..500) {
    (Submit-WandbLaunchJob -Queue `$queue -Uri '$code' -EntryPoint sh -Arguments '-c', '$RecordScript', 'sh', '$trace').Id
}
"@
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $submitter = Start-Process -FilePath (Get-PwshCommand) -ArgumentList '-NoProfile', '-NonInteractive', '-File', $script `
                -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB } -RedirectStandardOutput $idsFile -RedirectStandardError "$idsFile.err" -PassThru
            # The agent is working while the submits arrive.
            Wait-Until { (Test-Path $trace) -and -not $submitter.HasExited } -TimeoutSeconds 60 -Because 'the agent to run jobs while submits still arrive'
            $submitter.WaitForExit(300000) | Should -BeTrue
            $submitSeconds = $clock.Elapsed.TotalSeconds
            $submitter.ExitCode | Should -Be 0
            Get-Content "$idsFile.err" -Raw | Should -BeNullOrEmpty
            $seconds = Wait-QueueDrained -Queue race -TimeoutSeconds 300
            Write-Timing ("500 submits from another process took {0:0.0} s (with pwsh start-up) while one agent ran them; drained {1:0.0} s later" -f $submitSeconds, $seconds)
        }
        finally {
            Stop-AgentProcesses @($agent)
            if ($submitter -and -not $submitter.HasExited) { Stop-Process -Id $submitter.Id -Force }
        }

        $submitted = @(Get-Content $idsFile)
        $submitted.Count | Should -Be 500
        $jobs = @(Get-WandbLaunchJob -Queue race)
        $jobs.Count | Should -Be 500
        Compare-Object ($jobs.Id | Sort-Object) ($submitted | Sort-Object) | Should -BeNullOrEmpty
        ($jobs.State | Sort-Object -Unique) | Should -Be 'Finished'
        ($jobs.Attempts | Sort-Object -Unique) | Should -Be 1
        $lines = @(Get-Content $trace)
        $lines.Count | Should -Be 500
        Compare-Object ($lines | Sort-Object) ($submitted | Sort-Object) | Should -BeNullOrEmpty
    }
}
