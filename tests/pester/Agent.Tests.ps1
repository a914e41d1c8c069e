# The launch agent: how it resolves its config and refuses bad ones before registering, the order it takes jobs in,
# max_jobs, its status, running it as a PowerShell job or in the foreground of another pwsh process, and what it
# shows with -Verbose or W&B's `verbosity`.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    $script:StartId = 'WandbLaunch.Agents.StartWandbLaunchAgentCommand'
    # The agent reads these; the tests set them explicitly where they matter.
    $script:savedEnv = @{}
    foreach ($name in 'HOME', 'WANDB_ENTITY', 'WANDB_LAUNCH_MAX_JOBS', 'WANDB_LAUNCH_START_TIMEOUT', 'WANDB_LAUNCH_LEASE_SECONDS') {
        $savedEnv[$name] = [Environment]::GetEnvironmentVariable($name)
        if ($name -ne 'HOME') { [Environment]::SetEnvironmentVariable($name, $null) }
    }
    # No ~/.config/wandb/launch-config.yaml unless a test writes one.
    $env:HOME = New-TestDirectory

    function Get-StartedAgentInfo {
        <# Starts an agent as a job with these parameters, reads what it registered, and stops it. #>
        param([hashtable] $Parameters)
        $job = Start-WandbLaunchAgent @Parameters -AsJob -ErrorAction Stop
        try {
            Wait-Until { $job.AgentId } -TimeoutSeconds 20 -Because 'the agent to register'
            Get-WandbLaunchAgent -Id $job.AgentId
        }
        finally { Stop-TestAgent $job }
    }

    function Assert-AgentRefused {
        <# Start fails with exactly this id, and no agent was registered and no job created. #>
        param([Parameter(Mandatory)] [scriptblock] $Start, [Parameter(Mandatory)] [string] $ErrorId)
        $agentsBefore = @(Get-WandbLaunchAgent -IncludeStopped).Count
        $jobsBefore = @(Get-Job).Count
        $thrown = $null
        try { & $Start | Out-Null } catch { $thrown = $_ }
        $thrown | Should -Not -BeNullOrEmpty -Because "the agent should refuse to start with $ErrorId"
        $thrown.FullyQualifiedErrorId | Should -BeExactly "$ErrorId,$script:StartId"
        @(Get-WandbLaunchAgent -IncludeStopped).Count | Should -Be $agentsBefore -Because 'nothing is registered before the config is valid'
        @(Get-Job).Count | Should -Be $jobsBefore
    }

    function Submit-RecordingJob {
        <# A job that appends its trace id (= job id) to $File when it runs. #>
        param([string] $Queue, [string] $File, [string] $Priority)
        $params = @{ Queue = $Queue; Uri = $script:code; EntryPoint = 'sh'; Arguments = @('-c', 'echo "$WANDB_LAUNCH_TRACE_ID" >> "$1"', 'sh', $File) }
        if ($Priority) { $params.Priority = $Priority }
        Submit-WandbLaunchJob @params
    }

    function Wait-JobsEnded {
        param([string[]] $Id, [double] $TimeoutSeconds = 60)
        $ended = @($Id | Wait-WandbLaunchJob -Timeout $TimeoutSeconds)
        $ended.Count | Should -Be $Id.Count -Because 'every job should end in time'
        $ended
    }
}

AfterAll {
    foreach ($name in $savedEnv.Keys) { [Environment]::SetEnvironmentVariable($name, $savedEnv[$name]) }
}

Describe 'Start-WandbLaunchAgent configuration' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:configDir = New-TestDirectory
        $script:me = [Environment]::UserName
        foreach ($q in 'qa', 'qb', 'qc') { New-WandbLaunchQueue -Name $q -Resource local-process | Out-Null }
        foreach ($e in 'fileent', 'envent', 'paraent') { New-WandbLaunchQueue -Name qe -Resource local-process -Entity $e | Out-Null }
    }
    AfterEach {
        $env:WANDB_LAUNCH_MAX_JOBS = $null
        $env:WANDB_ENTITY = $null
    }

    Context 'precedence: defaults < file < environment < parameters' {
        It 'uses the built-in defaults (max_jobs 1)' {
            $info = Get-StartedAgentInfo @{ Queue = 'qa' }
            $info.MaxJobs | Should -Be 1
            $info.Queues | Should -Be "$me/model-registry/qa"
            $info.Entity | Should -Be $me
        }

        It 'reads -ConfigPath over the defaults, adding a `queue` string to `queues`' {
            $file = Join-Path $configDir 'file.yaml'
            Set-Content $file "max_jobs: 3`nqueues: [qb]`nqueue: qc`n"
            $info = Get-StartedAgentInfo @{ ConfigPath = $file }
            $info.MaxJobs | Should -Be 3
            $info.Queues | Should -Be "$me/model-registry/qb", "$me/model-registry/qc"
        }

        It 'reads ~/.config/wandb/launch-config.yaml when no -ConfigPath is given' {
            $default = Join-Path $env:HOME '.config/wandb/launch-config.yaml'
            New-Item -ItemType Directory (Split-Path $default) -Force | Out-Null
            Set-Content $default "max_jobs: 2`nqueues: [qa]`n"
            try {
                $info = Get-StartedAgentInfo @{}
                $info.MaxJobs | Should -Be 2
                $info.Queues | Should -Be "$me/model-registry/qa"
            }
            finally { Remove-Item $default }
        }

        It 'lets WANDB_LAUNCH_MAX_JOBS override the file, and -MaxJobs override both' {
            $file = Join-Path $configDir 'env.yaml'
            Set-Content $file "max_jobs: 3`nqueues: [qb]`n"
            $env:WANDB_LAUNCH_MAX_JOBS = '4'
            (Get-StartedAgentInfo @{ ConfigPath = $file }).MaxJobs | Should -Be 4
            (Get-StartedAgentInfo @{ ConfigPath = $file; MaxJobs = 5 }).MaxJobs | Should -Be 5
            (Get-StartedAgentInfo @{ ConfigPath = $file; MaxJobs = -1 }).MaxJobs | Should -Be -1
        }

        It 'lets -Queue replace the file''s queues' {
            $file = Join-Path $configDir 'queues.yaml'
            Set-Content $file "queues: [qb, qc]`n"
            (Get-StartedAgentInfo @{ ConfigPath = $file; Queue = 'qa' }).Queues | Should -Be "$me/model-registry/qa"
        }

        It 'takes the entity from the file, WANDB_ENTITY over it, -Entity over both' {
            $file = Join-Path $configDir 'entity.yaml'
            Set-Content $file "entity: fileent`nqueues: [qe]`n"
            $info = Get-StartedAgentInfo @{ ConfigPath = $file }
            $info.Entity | Should -Be 'fileent'
            $info.Queues | Should -Be 'fileent/model-registry/qe'
            $env:WANDB_ENTITY = 'envent'
            (Get-StartedAgentInfo @{ ConfigPath = $file }).Queues | Should -Be 'envent/model-registry/qe'
            (Get-StartedAgentInfo @{ ConfigPath = $file; Entity = 'paraent' }).Queues | Should -Be 'paraent/model-registry/qe'
        }
    }

    Context 'refusals, before the agent registers' {
        It 'refuses to start without queues (NoQueues)' {
            Assert-AgentRefused { Start-WandbLaunchAgent -AsJob -ErrorAction Stop } -ErrorId NoQueues
            Assert-AgentRefused { Start-WandbLaunchAgent -ErrorAction Stop } -ErrorId NoQueues
        }

        It 'refuses a queue that does not exist (QueueNotFound)' {
            Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa, no-such-queue -AsJob -ErrorAction Stop } -ErrorId QueueNotFound
            Assert-AgentRefused { Start-WandbLaunchAgent -Queue qe -ErrorAction Stop } -ErrorId QueueNotFound
        }

        It 'refuses a bad config file with its error id' {
            Assert-AgentRefused { Start-WandbLaunchAgent -ConfigPath (Join-Path $configDir 'missing.yaml') -Queue qa -AsJob -ErrorAction Stop } -ErrorId AgentConfigNotFound
            $file = Join-Path $configDir 'bad.yaml'
            Set-Content $file "queues: [qa]`n  max_jobs: 2`n"
            Assert-AgentRefused { Start-WandbLaunchAgent -ConfigPath $file -AsJob -ErrorAction Stop } -ErrorId InvalidAgentConfigYaml
            Set-Content $file "queues: [qa]`nmax_job: 2`n"
            Assert-AgentRefused { Start-WandbLaunchAgent -ConfigPath $file -AsJob -ErrorAction Stop } -ErrorId UnknownAgentConfigKey
            Set-Content $file "queues: [qa]`nmax_jobs: 0`n"
            Assert-AgentRefused { Start-WandbLaunchAgent -ConfigPath $file -ErrorAction Stop } -ErrorId InvalidMaxJobs
        }

        It 'refuses bad values in its environment' {
            $env:WANDB_LAUNCH_MAX_JOBS = 'many'
            Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa -AsJob -ErrorAction Stop } -ErrorId InvalidMaxJobs
            $env:WANDB_LAUNCH_MAX_JOBS = $null
            $env:WANDB_LAUNCH_START_TIMEOUT = 'soon'
            try { Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa -AsJob -ErrorAction Stop } -ErrorId InvalidStartTimeout }
            finally { $env:WANDB_LAUNCH_START_TIMEOUT = $null }
            $env:WANDB_LAUNCH_LEASE_SECONDS = '0'
            try { Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa -AsJob -ErrorAction Stop } -ErrorId InvalidLease }
            finally { $env:WANDB_LAUNCH_LEASE_SECONDS = $null }
        }

        It 'refuses -MaxJobs below -1 and 0' {
            Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa -MaxJobs -2 -AsJob -ErrorAction Stop } -ErrorId ParameterArgumentValidationError
            Assert-AgentRefused { Start-WandbLaunchAgent -Queue qa -MaxJobs 0 -AsJob -ErrorAction Stop } -ErrorId InvalidMaxJobs
        }

        It 'starts nothing under -WhatIf' {
            $agentsBefore = @(Get-WandbLaunchAgent -IncludeStopped).Count
            $jobsBefore = @(Get-Job).Count
            Start-WandbLaunchAgent -Queue qa -WhatIf | Should -BeNullOrEmpty
            Start-WandbLaunchAgent -Queue qa -AsJob -WhatIf | Should -BeNullOrEmpty
            @(Get-WandbLaunchAgent -IncludeStopped).Count | Should -Be $agentsBefore
            @(Get-Job).Count | Should -Be $jobsBefore
        }

        # W&B's agent/config.py warns about an unrecognised environment key as it reads the config; ours warns once
        # per key, naming its path and line.
        It 'warns once at start about each ignored config key, naming its path and line' {
            $config = Join-Path (New-TestDirectory) 'launch-config.yaml'
            Set-Content -LiteralPath $config -Value "builder:`n  type: noop`n  colour: blue`nenvironment:`n  type: azure`n  zone: x`n"
            Start-WandbLaunchAgent -Queue qa -ConfigPath $config -WhatIf -WarningVariable warns -WarningAction SilentlyContinue | Should -BeNullOrEmpty
            @($warns | ForEach-Object { "$_" } | Where-Object { $_ -like "*colour*" }).Count | Should -Be 1
            @($warns | ForEach-Object { "$_" } | Where-Object { $_ -like "*zone*" }).Count | Should -Be 1
            "$(@($warns | Where-Object { "$_" -like '*colour*' })[0])" | Should -BeLike "${config}:3:*builder key 'colour'*"
        }
    }
}

Describe 'Which jobs an agent takes, and how many at once' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
    }

    It 'takes jobs by priority then in submission order on a prioritized queue' {
        New-WandbLaunchQueue -Name prio -Resource local-process -Prioritization | Out-Null
        $order = Join-Path $scratch 'prio.order'
        $submitted = [ordered]@{}
        foreach ($p in 'Low', 'Medium', 'Critical', 'High', 'Low', 'Critical', 'Medium', 'High') {
            $job = Submit-RecordingJob -Queue prio -File $order -Priority $p
            $submitted[$job.Id] = $p
        }
        $rank = @{ Critical = 0; High = 1; Medium = 2; Low = 3 }
        $expected = @($submitted.Keys | Sort-Object -Stable { $rank[$submitted[$_]] })

        $agent = Start-TestAgent -Queue prio -MaxJobs 1
        try { $ended = Wait-JobsEnded $submitted.Keys }
        finally { Stop-TestAgent $agent }

        $ended.State | Sort-Object -Unique | Should -Be 'Finished'
        Get-Content $order | Should -Be $expected
        $byStart = @(Get-WandbLaunchJob -Id $expected)
        for ($i = 1; $i -lt $expected.Count; $i++) {
            $previous = $byStart | Where-Object Id -EQ $expected[$i - 1]
            $current = $byStart | Where-Object Id -EQ $expected[$i]
            $current.StartedAt | Should -BeGreaterOrEqual $previous.FinishedAt -Because 'with max_jobs 1 each job starts after the one before it ended'
        }
    }

    It 'takes jobs in pure submission order once prioritization is off, whatever their priority' {
        New-WandbLaunchQueue -Name fifo -Resource local-process -Prioritization | Out-Null
        $order = Join-Path $scratch 'fifo.order'
        $ids = foreach ($p in 'Low', 'Critical', 'Medium', 'High', 'Critical', 'Low') { (Submit-RecordingJob -Queue fifo -File $order -Priority $p).Id }
        Set-WandbLaunchQueue -Name fifo -Prioritization:$false
        (Get-WandbLaunchQueue fifo).Prioritization | Should -BeFalse

        $agent = Start-TestAgent -Queue fifo -MaxJobs 1
        try { Wait-JobsEnded $ids | Out-Null }
        finally { Stop-TestAgent $agent }

        Get-Content $order | Should -Be $ids
        $started = (Get-WandbLaunchJob -Id $ids | Sort-Object StartedAt, FinishedAt).Id
        $started | Should -Be $ids
    }

    It 'takes its queues round-robin' {
        New-WandbLaunchQueue -Name rr1 -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name rr2 -Resource local-process | Out-Null
        $order = Join-Path $scratch 'rr.order'
        $one = 1..4 | ForEach-Object { (Submit-RecordingJob -Queue rr1 -File $order).Id }
        $two = 1..3 | ForEach-Object { (Submit-RecordingJob -Queue rr2 -File $order).Id }

        $agent = Start-TestAgent -Queue rr1, rr2 -MaxJobs 1
        try { Wait-JobsEnded ($one + $two) | Out-Null }
        finally { Stop-TestAgent $agent }

        Get-Content $order | Should -Be @($one[0], $two[0], $one[1], $two[1], $one[2], $two[2], $one[3])
    }

    It 'never runs more than max_jobs at once' {
        New-WandbLaunchQueue -Name capped -Resource local-process | Out-Null
        $stamps = Join-Path $scratch 'capped.stamps'
        $script = 'echo "$(date +%s%N) start $WANDB_LAUNCH_TRACE_ID" >> "$1"; sleep 0.6; echo "$(date +%s%N) end $WANDB_LAUNCH_TRACE_ID" >> "$1"'
        $ids = 1..6 | ForEach-Object { (Submit-WandbLaunchJob -Queue capped -Uri $code -EntryPoint sh -Arguments '-c', $script, 'sh', $stamps).Id }

        $agent = Start-TestAgent -Queue capped -MaxJobs 2
        $peak = 0
        try {
            # Also watch the store while they run.
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (@(Get-WandbLaunchJob -Id $ids -State Pending, Leased, Starting, Running).Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) {
                $active = @(Get-WandbLaunchJob -Queue capped -State Leased, Starting, Running).Count
                if ($active -gt $peak) { $peak = $active }
                $info = Get-WandbLaunchAgent -Id $agent.AgentId
                $info.ActiveJobs | Should -BeLessOrEqual 2
                Start-Sleep -Milliseconds 50
            }
            $ended = Wait-JobsEnded $ids
        }
        finally { Stop-TestAgent $agent }

        $ended.State | Sort-Object -Unique | Should -Be 'Finished'
        $peak | Should -BeLessOrEqual 2
        $events = Get-Content $stamps | ForEach-Object { $t, $kind, $id = $_ -split ' '; [pscustomobject]@{ At = [long]$t; Delta = ($kind -eq 'start' ? 1 : -1) } } |
            Sort-Object At, Delta
        $running = 0; $max = 0
        foreach ($e in $events) { $running += $e.Delta; if ($running -gt $max) { $max = $running } }
        $max | Should -Be 2 -Because 'two jobs ran side by side, and never more'
        @($events).Count | Should -Be 12
    }

    It 'runs any number at once with -MaxJobs -1' {
        New-WandbLaunchQueue -Name unlimited -Resource local-process | Out-Null
        $barrier = Join-Path $scratch 'barrier'
        New-Item -ItemType Directory $barrier | Out-Null
        # Each job waits (up to 15 s) until all 8 have started, so all finish only if all 8 ran at the same time.
        $script = 'touch "$1/$WANDB_LAUNCH_TRACE_ID"; i=0; while [ "$(ls "$1" | wc -l)" -lt "$2" ]; do i=$((i+1)); [ $i -gt 150 ] && exit 7; sleep 0.1; done'
        $ids = 1..8 | ForEach-Object { (Submit-WandbLaunchJob -Queue unlimited -Uri $code -EntryPoint sh -Arguments '-c', $script, 'sh', $barrier, '8').Id }
        $agent = Start-TestAgent -Queue unlimited -MaxJobs -1
        try {
            (Get-WandbLaunchAgent -Id $agent.AgentId).MaxJobs | Should -Be -1
            $ended = Wait-JobsEnded $ids
        }
        finally { Stop-TestAgent $agent }
        $ended | ForEach-Object { "$($_.State) $($_.ExitCode)" } | Sort-Object -Unique | Should -Be 'Finished 0'
    }

    It 'reports POLLING, RUNNING, then KILLED' {
        New-WandbLaunchQueue -Name status -Resource local-process | Out-Null
        $agent = Start-TestAgent -Queue status -MaxJobs 2 -Name status-agent
        try {
            $info = Get-WandbLaunchAgent -Name status-agent
            $info.Status | Should -Be 'POLLING'
            $info.ActiveJobs | Should -Be 0
            $info.ProcessId | Should -Be $PID
            $info.Hostname | Should -Be ([Environment]::MachineName)
            $job = Submit-WandbLaunchJob -Queue status -Uri $code -EntryPoint sleep -Arguments 300
            Wait-Until { (Get-WandbLaunchAgent -Name status-agent).Status -eq 'RUNNING' } -TimeoutSeconds 20 -Because 'the agent to report RUNNING'
            (Get-WandbLaunchAgent -Name status-agent).ActiveJobs | Should -Be 1
            Stop-WandbLaunchJob -Id $job.Id -Wait
            Wait-Until { (Get-WandbLaunchAgent -Name status-agent).Status -eq 'POLLING' } -TimeoutSeconds 20 -Because 'the agent to report POLLING again'
        }
        finally { Stop-TestAgent $agent }
        Get-WandbLaunchAgent -Name status-agent | Should -BeNullOrEmpty -Because 'stopped agents are listed only with -IncludeStopped'
        $stopped = Get-WandbLaunchAgent -Name status-agent -IncludeStopped
        $stopped.Status | Should -Be 'KILLED'
        $stopped.Unresponsive | Should -BeFalse
    }
}

Describe 'An agent as a PowerShell job' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name ja -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name jb -Resource local-process | Out-Null
    }

    It 'is a job that Get-Job, Receive-Job, Stop-Job and Remove-Job understand' {
        $job = Start-WandbLaunchAgent -Queue ja -Name job-agent -AsJob
        try {
            $job.PSJobTypeName | Should -Be 'WandbLaunchAgent'
            $listed = Get-Job -Id $job.Id
            $listed.InstanceId | Should -Be $job.InstanceId
            $listed.PSJobTypeName | Should -Be 'WandbLaunchAgent'
            $listed.State | Should -Be 'Running'
            (Get-Job -Name job-agent).InstanceId | Should -Be $job.InstanceId

            $ok = Submit-WandbLaunchJob -Queue ja -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            $bad = Submit-WandbLaunchJob -Queue ja -Uri $code -EntryPoint false | Wait-WandbLaunchJob -Timeout 30
            $ok.AgentId | Should -Be $job.AgentId
            $bad.State | Should -Be 'Failed'

            $records = @(Receive-Job $job 6>&1 3>&1)
            $records | Where-Object { $_ -isnot [Management.Automation.InformationRecord] -and $_ -isnot [Management.Automation.WarningRecord] } |
                Should -BeNullOrEmpty -Because 'status lines are information records, failures warnings'
            $lines = @($records | ForEach-Object { "$_" })
            $lines | Where-Object { $_ -like "*Agent job-agent ($($job.AgentId)) polling ja in *" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "*$($ok.Id) ``[ja``] starting*" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "*$($ok.Id) ``[ja``] running (pid *" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "*$($ok.Id) ``[ja``] finished (exit code 0)" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "*$($bad.Id) ``[ja``] failed (run)*" } | Should -HaveCount 1
            $records | Where-Object { $_ -is [Management.Automation.WarningRecord] } | ForEach-Object Message |
                Should -BeLike "*$($bad.Id) ``[ja``] failed (run)*" -Because 'a failed job is reported as a warning'
            ($records | Where-Object { $_ -is [Management.Automation.InformationRecord] }).Tags | Should -Contain 'WandbLaunchAgent'
            Receive-Job $job 6>&1 | Should -BeNullOrEmpty -Because 'received lines are not returned twice'

            $running = Submit-WandbLaunchJob -Queue ja -Uri $code -EntryPoint sleep -Arguments 300
            Wait-Until { (Get-WandbLaunchJob -Id $running.Id).State -eq 'Running' } -Because 'the job to run'
            $sleepPid = Get-JobProcessId (Get-WandbLaunchJob -Id $running.Id)

            Stop-Job $job
            $job.State | Should -Be 'Stopped'
            (Get-WandbLaunchAgent -Id $job.AgentId).Status | Should -Be 'KILLED'
            $stoppedJob = Get-WandbLaunchJob -Id $running.Id
            $stoppedJob.State | Should -Be 'Stopped'
            $stoppedJob.FailureMessage | Should -BeLike '*agent stopped while the job ran*'
            Test-ProcessAlive $sleepPid | Should -BeFalse
            (Receive-Job $job 6>&1 | ForEach-Object { "$_" }) -join "`n" | Should -BeLike '*stopped because it was cancelled (Ctrl+C or Stop-Job)*'
        }
        finally {
            Remove-Job $job -Force -ErrorAction SilentlyContinue
        }
        Get-Job -Id $job.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-Job -Name job-agent -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'works against the store its session connected to, not the default one' {
        # Connect-WandbLaunch binds the whole session, so this runs in its own pwsh.
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$dir/default.db"; WBL_CODE = $code } -Script @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$dir = Split-Path $env:WANDB_LAUNCH_DB
Connect-WandbLaunch -Path "$dir/connected.db" | Out-Null
New-WandbLaunchQueue -Name connected-q -Resource local-process | Out-Null
$agent = Start-WandbLaunchAgent -Queue connected-q -Name connected-agent -AsJob
try {
    # Changing the default store afterwards must not move the agent either.
    $env:WANDB_LAUNCH_DB = "$dir/later.db"
    $done = Submit-WandbLaunchJob -Queue connected-q -Uri $env:WBL_CODE -EntryPoint true | Wait-WandbLaunchJob -Timeout 60
    $registered = Get-WandbLaunchAgent -Id $agent.AgentId
}
finally {
    Stop-Job $agent
    Remove-Job $agent -Force
}
[pscustomobject]@{
    State = "$($done.State)"; JobAgent = $done.AgentId; AgentId = $agent.AgentId; AgentName = $registered.Name
    Log = $done.LogPath
} | ConvertTo-Json -Compress
'@
        $result.State | Should -BeExactly 'Finished'
        $result.JobAgent | Should -BeExactly $result.AgentId -Because 'the -AsJob agent took the job from the connected store'
        $result.AgentName | Should -BeExactly 'connected-agent'
        $result.Log | Should -BeLike "$dir/logs/*" -Because 'job logs live beside the connected store'
        Test-Path "$dir/connected.db" | Should -BeTrue
        Test-Path "$dir/default.db" | Should -BeFalse -Because 'nothing touched the default store'
        Test-Path "$dir/later.db" | Should -BeFalse
    }

    It 'keeps at most WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS records per stream until they are received, newest kept, and says so once' {
        $env:WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS = '10'
        try { $job = Start-WandbLaunchAgent -Queue ja -Name capped-agent -AsJob -ErrorAction Stop }
        finally { $env:WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS = $null }
        try {
            # Each job makes three status lines (starting, running, finished): 8 jobs make 24, more than the cap.
            $jobs = 1..8 | ForEach-Object { Submit-WandbLaunchJob -Queue ja -Uri $code -EntryPoint true }
            $last = $jobs[-1]
            Wait-JobsEnded $jobs.Id | Out-Null
            Wait-Until { "$($job.Information | Select-Object -Last 1)" -like "*$($last.Id) ``[ja``] finished*" } -Because 'the last job''s end to reach the job'
            $job.Information.Count | Should -Be 10 -Because 'the oldest status lines were dropped'
            "$($job.Information | Select-Object -Last 1)" | Should -BeLike "*$($last.Id) ``[ja``] finished*" -Because 'the newest are kept'
            @($job.Information | Where-Object { "$_" -like '*polling ja*' }) | Should -BeNullOrEmpty -Because 'the first line was among the dropped'
            $dropped = @($job.Warning | Where-Object Message -Like '*keeps at most 10 records per stream*WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS*')
            $dropped | Should -HaveCount 1 -Because 'dropping is said once'
        }
        finally { Stop-TestAgent $job }
    }

    It 'refuses a WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS that is not a whole number of at least 10' {
        foreach ($bad in 'many', '5', '-1', '1e9') {
            $env:WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS = $bad
            try { Assert-AgentRefused { Start-WandbLaunchAgent -Queue ja -AsJob -ErrorAction Stop } -ErrorId InvalidAgentJobMaxRecords }
            finally { $env:WANDB_LAUNCH_AGENT_JOB_MAX_RECORDS = $null }
        }
    }

    It 'hosts two agents on two queues in one pwsh' {
        $a = Start-TestAgent -Queue ja -MaxJobs 2 -Name two-a
        $b = Start-TestAgent -Queue jb -MaxJobs 2 -Name two-b
        try {
            $a.AgentId | Should -Not -Be $b.AgentId
            @(Get-Job | Where-Object PSJobTypeName -EQ 'WandbLaunchAgent').Count | Should -BeGreaterOrEqual 2
            $onA = 1..3 | ForEach-Object { Submit-WandbLaunchJob -Queue ja -Uri $code -EntryPoint true }
            $onB = 1..3 | ForEach-Object { Submit-WandbLaunchJob -Queue jb -Uri $code -EntryPoint true }
            $ended = Wait-JobsEnded ($onA.Id + $onB.Id)
            $ended.State | Sort-Object -Unique | Should -Be 'Finished'
            ($ended | Where-Object Queue -EQ ja).AgentId | Sort-Object -Unique | Should -Be $a.AgentId
            ($ended | Where-Object Queue -EQ jb).AgentId | Sort-Object -Unique | Should -Be $b.AgentId
            $agents = Get-WandbLaunchAgent -Name two-*
            $agents.Name | Sort-Object | Should -Be 'two-a', 'two-b'
            $agents.ProcessId | Sort-Object -Unique | Should -Be $PID
        }
        finally { Stop-TestAgent $a, $b }
        (Get-WandbLaunchAgent -Name two-* -IncludeStopped).Status | Sort-Object -Unique | Should -Be 'KILLED'
    }
}

Describe 'An agent in the foreground of another pwsh process' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name fg -Resource local-process | Out-Null
    }

    It 'writes a status line per job event and stops when Stop-WandbLaunchAgent is run from this process' {
        $proc = Start-AgentProcess -Queue fg -MaxJobs 2 -Name fg-agent
        try {
            $info = Wait-AgentRegistered $proc
            $info.ProcessId | Should -Be $proc.Process.Id
            $info.Status | Should -Be 'POLLING'

            $ok = Submit-WandbLaunchJob -Queue fg -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            $bad = Submit-WandbLaunchJob -Queue fg -Uri $code -EntryPoint sh -Arguments '-c', 'echo bad >&2; exit 4' | Wait-WandbLaunchJob -Timeout 30
            $ok.State | Should -Be 'Finished'
            $bad.State | Should -Be 'Failed'
            $sleeper = Submit-WandbLaunchJob -Queue fg -Uri $code -EntryPoint sleep -Arguments 300
            $cancelled = Submit-WandbLaunchJob -Queue fg -Uri $code -EntryPoint sleep -Arguments 301
            Wait-Until { @(Get-WandbLaunchJob -Id $sleeper.Id, $cancelled.Id -State Running).Count -eq 2 } -Because 'the long jobs to run'
            $sleepPid = Get-JobProcessId (Get-WandbLaunchJob -Id $sleeper.Id)
            $cancelledPid = Get-JobProcessId (Get-WandbLaunchJob -Id $cancelled.Id)

            # A stop request from this process reaches the agent in the other one, which kills the job's process.
            (Stop-WandbLaunchJob -Id $cancelled.Id -Wait -PassThru).State | Should -Be 'Stopped'
            Wait-Until { -not (Test-ProcessAlive $cancelledPid) } -TimeoutSeconds 10 -Because 'the stopped job''s process to end'
            Wait-Until { (Get-WandbLaunchAgent -Name fg-agent).Status -eq 'RUNNING' } -Because 'the agent to report RUNNING'

            $stopped = Stop-WandbLaunchAgent -Name fg-agent -Wait -Timeout 60 -PassThru
            $stopped.Status | Should -Be 'KILLED'
            $proc.Process.WaitForExit(30000) | Should -BeTrue -Because 'the agent''s pwsh returns once the agent has stopped'
            $proc.Process.ExitCode | Should -Be 0
        }
        finally {
            if (-not $proc.Process.HasExited) { Stop-Process -Id $proc.Process.Id -Force }
        }
        (Get-WandbLaunchJob -Id $sleeper.Id).State | Should -Be 'Stopped'
        Test-ProcessAlive $sleepPid | Should -BeFalse

        $lines = @(Get-Content $proc.OutputPath)
        Get-Content $proc.ErrorPath -Raw | Should -BeNullOrEmpty
        $lines | Should -Not -BeNullOrEmpty
        $lines | ForEach-Object { $_ | Should -Match '^\d\d:\d\d:\d\d \S' -Because 'each status line starts with the time' }
        $lines[0] | Should -BeLike "*Agent fg-agent (*) polling fg in *; max jobs 2"
        foreach ($job in $ok, $bad, $sleeper, $cancelled) {
            $lines | Where-Object { $_ -like "* $($job.Id) ``[fg``] starting: $code (run $($job.RunId))" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "* $($job.Id) ``[fg``] running (pid *)" } | Should -HaveCount 1
        }
        $lines | Where-Object { $_ -like "* $($ok.Id) ``[fg``] finished (exit code 0)" } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* $($bad.Id) ``[fg``] failed (run): The process exited with code 4*" } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* $($cancelled.Id) ``[fg``] stopped: Stopped on request (Stop-WandbLaunchJob)." } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* $($sleeper.Id) ``[fg``] stopped: The agent stopped while the job ran*" } | Should -HaveCount 1
        $lines[-1] | Should -BeLike '*stopped because a stop was requested (Stop-WandbLaunchAgent): 1 job(s) finished, 3 failed or stopped'
    }
}

Describe 'What an agent does, shown with -Verbose or W&B''s verbosity' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:configDir = New-TestDirectory
        New-WandbLaunchQueue -Name va -Resource local-process | Out-Null
        # A secret the agent and its jobs know: it must never be shown.
        $script:apiKey = 'local-' + ('0123456789abcdef' * 3).Substring(0, 40)
    }

    It 'shows its polling, each pop and each end with -Verbose in the foreground, and no secret' {
        $proc = Start-AgentProcess -Queue va -Name verbose-agent -ExtraArguments '-Verbose' -Environment @{ WANDB_API_KEY = $apiKey }
        try {
            Wait-AgentRegistered $proc | Out-Null
            $job = Submit-WandbLaunchJob -Queue va -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            Stop-WandbLaunchAgent -Name verbose-agent -Wait -Timeout 60 | Out-Null
            $proc.Process.WaitForExit(30000) | Should -BeTrue
        }
        finally {
            if (-not $proc.Process.HasExited) { Stop-Process -Id $proc.Process.Id -Force }
        }
        $lines = @(Get-Content $proc.OutputPath)
        $lines | Where-Object { $_ -like '* `[agent`] registered as agent * polling queue(s) va *' } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* ``[agent``] popped $($job.Id) from queue va *" } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* ``[agent``] wrote the end of $($job.Id): Finished" } | Should -HaveCount 1
        $lines | Where-Object { $_ -like "* $($job.Id) ``[va``] finished (exit code 0)" } | Should -HaveCount 1 -Because 'the status lines are still there'
        $lines | Where-Object { $_ -like '*heartbeat*' } | Should -BeNullOrEmpty -Because 'heartbeats are -Debug detail'
        ($lines -join "`n") | Should -Not -Match $apiKey
    }

    It 'puts the same lines in the verbose stream of an -AsJob agent whose config says verbosity: 1, and none without it' {
        $file = Join-Path $configDir 'verbose.yaml'
        Set-Content $file "queues: [va]`nverbosity: 1`n"
        $env:WANDB_API_KEY = $apiKey
        try {
            $agent = Start-WandbLaunchAgent -ConfigPath $file -Name verbosity-agent -AsJob -ErrorAction Stop
            $quiet = Start-WandbLaunchAgent -ConfigPath $file -Name quiet-agent -AsJob -Verbose:$false -ErrorAction Stop
        }
        finally { $env:WANDB_API_KEY = $null }
        try {
            Wait-Until { $agent.AgentId -and $quiet.AgentId } -TimeoutSeconds 20 -Because 'the agents to register'
            $quiet | Stop-Job
            $job = Submit-WandbLaunchJob -Queue va -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            Wait-Until { "$($agent.Verbose)" -like "*wrote the end of $($job.Id)*" } -Because 'the end to reach the verbose stream'
            $lines = @($agent.Verbose | ForEach-Object Message)
            $lines | Where-Object { $_ -like '* `[agent`] registered as agent * polling queue(s) va *' } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "* ``[agent``] popped $($job.Id) from queue va *" } | Should -HaveCount 1
            $lines | Where-Object { $_ -like "* ``[agent``] wrote the end of $($job.Id): Finished" } | Should -HaveCount 1
            @($agent.Debug) | Should -BeNullOrEmpty -Because 'verbosity 1 is not debug'
            @($quiet.Verbose) | Should -BeNullOrEmpty -Because 'an explicit -Verbose:$false wins over the config'
            ($lines -join "`n") | Should -Not -Match $apiKey
        }
        finally { Stop-TestAgent $agent, $quiet }
    }
}
