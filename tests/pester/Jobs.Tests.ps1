# Jobs: submitting, inspecting, stopping, waiting for, removing and reading launch jobs, run for real by agents in
# this process (local-process queues, real child processes, a real SQLite store).

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    $script:SubmitId = 'WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'

    function Assert-SubmitRefused {
        <# The submit fails with exactly this error id, and the store holds no more jobs than before. #>
        param([Parameter(Mandatory)] [scriptblock] $Submit, [Parameter(Mandatory)] [string] $ErrorId)
        $before = @(Get-WandbLaunchJob).Count
        $thrown = $null
        try { & $Submit | Out-Null } catch { $thrown = $_ }
        $thrown | Should -Not -BeNullOrEmpty -Because "the submit should fail with $ErrorId"
        $thrown.FullyQualifiedErrorId | Should -BeExactly "$ErrorId,$script:SubmitId"
        @(Get-WandbLaunchJob).Count | Should -Be $before -Because 'a refused submit stores nothing'
    }

    function Get-SpecOf($Job) { $Job.SpecJson | ConvertFrom-Json -AsHashtable }
}

Describe 'Submit-WandbLaunchJob' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name plain -Resource local-process -Configuration @{ env = @{ BASE = 'queue'; KEEP = 'queue' } } | Out-Null
        New-WandbLaunchQueue -Name prio -Resource local-process -Prioritization | Out-Null
        New-WandbLaunchQueue -Name images -Resource local-container | Out-Null
        New-WandbLaunchQueue -Name tmpl -Resource local-process -Configuration @{ env = @{ CPUS = '{{cpus}}'; TIER = '{{tier}}'; LABEL = 'tier-{{tier}}' } } -TemplateVariable @{
            cpus = @{ type = 'integer'; minimum = 1; maximum = 8 }
            tier = @{ type = 'string'; enum = @('small', 'large'); default = 'small' }
        } | Out-Null
    }

    Context 'sources' {
        It 'stores a local directory job with its entry point and arguments as an argument vector' {
            $job = Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint python3, train.py -Arguments '--lr', '0.1 0.2', '$HOME; rm -rf /'
            $job.GetType().FullName | Should -Be 'WandbLaunch.Engine.Jobs.LaunchJob'
            $job.State | Should -Be 'Pending'
            $job.Priority | Should -Be 'Medium'
            $job.Attempts | Should -Be 0
            $job.RunId | Should -Match '^[a-z0-9]{8}$'
            $job.Id | Should -Match '^item-'
            $job.Queue | Should -Be 'plain'
            $job.Resource | Should -Be 'local-process'
            $job.Source | Should -Be $code
            $job.AgentId | Should -BeNullOrEmpty
            $job.StartedAt | Should -BeNullOrEmpty
            $job.LeasedAt | Should -BeNullOrEmpty
            $job.CreatedAt | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(-1))
            $spec = Get-SpecOf $job
            $spec.uri | Should -Be $code
            $spec.overrides.entry_point | Should -Be @('python3', 'train.py')
            $spec.overrides.args | Should -Be @('--lr', '0.1 0.2', '$HOME; rm -rf /')
            $spec.resource | Should -Be 'local-process'
            $spec.run_id | Should -Be $job.RunId
            $spec.priority | Should -Be 2

            $stored = Get-WandbLaunchJob -Id $job.Id
            $stored.State | Should -Be 'Pending'
            $stored.SpecJson | Should -Be $job.SpecJson
        }

        It 'resolves a relative directory against the current location' {
            New-Item -ItemType Directory -Path (Join-Path $code 'sub') -Force | Out-Null
            Push-Location $code
            try {
                (Submit-WandbLaunchJob -Queue plain -Uri . -EntryPoint true).Source | Should -Be $code
                (Submit-WandbLaunchJob -Queue plain -Uri ./sub -EntryPoint true).Source | Should -Be (Join-Path $code 'sub')
            }
            finally { Pop-Location }
        }

        It 'refuses a local directory that does not exist (SourceDirectoryNotFound)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Uri (Join-Path $code 'no-such-dir') -EntryPoint true -ErrorAction Stop } -ErrorId SourceDirectoryNotFound
        }

        It 'stores a docker image job' {
            $job = Submit-WandbLaunchJob -Queue images -DockerImage 'registry.local/train:1.2' -EntryPoint python, train.py
            $job.Source | Should -Be 'registry.local/train:1.2'
            $spec = Get-SpecOf $job
            $spec.docker.docker_image | Should -Be 'registry.local/train:1.2'
            $spec.overrides.entry_point | Should -Be @('python', 'train.py')
            $spec.Contains('uri') | Should -BeFalse
        }

        It 'accepts git sources given as https://, ssh:// and git@host:path' {
            foreach ($uri in 'https://github.com/wandb/examples.git', 'ssh://git@github.com/wandb/examples.git', 'git@github.com:wandb/examples.git') {
                $job = Submit-WandbLaunchJob -Queue plain -Uri $uri -GitVersion main -EntryPoint python, train.py
                $job.Source | Should -Be $uri
                (Get-SpecOf $job).git.version | Should -Be 'main'
            }
        }

        It 'refuses other uri schemes and relative paths in a spec (InvalidSourceUri)' {
            foreach ($uri in 'file:///tmp', 'git://127.0.0.1/repo.git', 'http://example.com/repo.git', 'ftp://example.com/x') {
                Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Uri $uri -EntryPoint true -ErrorAction Stop } -ErrorId InvalidSourceUri
            }
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = 'file:///tmp' } -ErrorAction Stop } -ErrorId InvalidSourceUri
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = 'relative/dir' } -ErrorAction Stop } -ErrorId InvalidSourceUri
        }

        It 'refuses a spec with nothing to run (MissingJobSource)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ overrides = @{ entry_point = @('true') } } -ErrorAction Stop } -ErrorId MissingJobSource
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec '{}' -ErrorAction Stop } -ErrorId MissingJobSource
        }

        It 'refuses a spec with two sources (ConflictingJobSource)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = $code; docker = @{ docker_image = 'img:1' } } -ErrorAction Stop } -ErrorId ConflictingJobSource
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = $code; job = 'ent/proj/job:latest' } -ErrorAction Stop } -ErrorId ConflictingJobSource
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ job = 'ent/proj/job:latest'; image_uri = 'img:1' } -ErrorAction Stop } -ErrorId ConflictingJobSource
        }

        It 'refuses an unknown queue (QueueNotFound)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue no-such-queue -Uri $code -EntryPoint true -ErrorAction Stop } -ErrorId QueueNotFound
        }
    }

    Context '-Spec forms' {
        It 'takes JSON text' {
            $json = @{ uri = $code; name = 'from-json'; overrides = @{ entry_point = @('sh', 'run.sh'); args = @('a b') } } | ConvertTo-Json -Depth 5
            $job = Submit-WandbLaunchJob -Queue plain -Spec $json
            $job.Name | Should -Be 'from-json'
            $spec = Get-SpecOf $job
            $spec.overrides.entry_point | Should -Be @('sh', 'run.sh')
            $spec.overrides.args | Should -Be @('a b')
        }

        It 'takes YAML text' {
            $yaml = "uri: $code`nname: from-yaml`noverrides:`n  entry_point: [sh, run.sh]`n  run_config:`n    lr: 0.5`n"
            $job = Submit-WandbLaunchJob -Queue plain -Spec $yaml
            $job.Name | Should -Be 'from-yaml'
            $spec = Get-SpecOf $job
            $spec.overrides.entry_point | Should -Be @('sh', 'run.sh')
            $spec.overrides.run_config.lr | Should -Be 0.5
        }

        It 'takes a YAML file and a JSON file (also by relative path)' {
            $yamlFile = Join-Path $code 'spec.yaml'
            Set-Content $yamlFile "uri: $code`nname: from-yaml-file`noverrides:`n  entry_point:`n    - 'true'`n"
            (Submit-WandbLaunchJob -Queue plain -Spec $yamlFile).Name | Should -Be 'from-yaml-file'
            Set-Content (Join-Path $code 'spec.json') (@{ uri = $code; name = 'from-json-file'; overrides = @{ entry_point = @('true') } } | ConvertTo-Json -Depth 4)
            Push-Location $code
            try { (Submit-WandbLaunchJob -Queue plain -Spec spec.json).Name | Should -Be 'from-json-file' }
            finally { Pop-Location }
        }

        It 'takes a hashtable, and other parameters override its keys' {
            $job = Submit-WandbLaunchJob -Queue plain -Spec @{ uri = $code; name = 'ht'; overrides = @{ entry_point = @('sh'); args = @('old') } } -Arguments new1, new2 -Name renamed
            $job.Name | Should -Be 'renamed'
            $spec = Get-SpecOf $job
            $spec.overrides.entry_point | Should -Be @('sh')
            $spec.overrides.args | Should -Be @('new1', 'new2')
        }

        It 'refuses a spec that is not a mapping (InvalidLaunchSpec)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec '[1, 2]' -ErrorAction Stop } -ErrorId InvalidLaunchSpec
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = $code; overrides = @{ args = 'not-a-list' } } -ErrorAction Stop } -ErrorId InvalidLaunchSpec
        }
    }

    Context 'priority' {
        It 'refuses -Priority on a queue without prioritization (PrioritizationDisabled)' {
            foreach ($p in 'Critical', 'High', 'Low') {
                Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -Priority $p -ErrorAction Stop } -ErrorId PrioritizationDisabled
            }
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Spec @{ uri = $code; priority = 'critical' } -ErrorAction Stop } -ErrorId PrioritizationDisabled
        }

        It 'accepts -Priority Medium (the default) on such a queue' {
            (Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -Priority Medium).Priority | Should -Be 'Medium'
        }

        It 'stores the priority on a prioritized queue, from -Priority or the spec' {
            $job = Submit-WandbLaunchJob -Queue prio -Uri $code -EntryPoint true -Priority Critical
            $job.Priority | Should -Be 'Critical'
            (Get-SpecOf $job).priority | Should -Be 0
            (Submit-WandbLaunchJob -Queue prio -Spec @{ uri = $code; priority = 'low'; overrides = @{ entry_point = @('true') } }).Priority | Should -Be 'Low'
            (Submit-WandbLaunchJob -Queue prio -Spec @{ uri = $code; priority = 1; overrides = @{ entry_point = @('true') } }).Priority | Should -Be 'High'
            (Submit-WandbLaunchJob -Queue prio -Uri $code -EntryPoint true).Priority | Should -Be 'Medium'
        }
    }

    Context 'template variables' {
        It 'validates values, applies defaults and renders them into the spec''s resource_args' {
            $job = Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable @{ cpus = 4 }
            $spec = Get-SpecOf $job
            $env = $spec.resource_args.'local-process'.env
            $env.CPUS | Should -Be 4
            $env.CPUS | Should -BeOfType [long] -Because 'a whole-value placeholder takes the value''s type'
            $env.TIER | Should -Be 'small' -Because 'tier defaults to small'
            $env.LABEL | Should -Be 'tier-small'
            $spec.template_variables.cpus | Should -Be 4
            $spec.template_variables.tier | Should -Be 'small'

            $large = Get-SpecOf (Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -SetVar @{ cpus = 8; tier = 'large' })
            $large.resource_args.'local-process'.env.TIER | Should -Be 'large'
            $large.resource_args.'local-process'.env.LABEL | Should -Be 'tier-large'
            $large.resource_args.'local-process'.env.CPUS | Should -Be 8
        }

        It 'refuses values outside the schema (InvalidTemplateValue)' {
            foreach ($values in @{ cpus = 9 }, @{ cpus = 0 }, @{ cpus = 2.5 }, @{ cpus = 'four' }, @{ cpus = 2; tier = 'medium' }) {
                Assert-SubmitRefused { Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable $values -ErrorAction Stop } -ErrorId InvalidTemplateValue
            }
        }

        It 'refuses variables the queue does not define (UnknownTemplateVariable)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable @{ cpus = 2; gpus = 1 } -ErrorAction Stop } -ErrorId UnknownTemplateVariable
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -TemplateVariable @{ cpus = 2 } -ErrorAction Stop } -ErrorId UnknownTemplateVariable
        }

        It 'refuses a missing value without a default (TemplateValueMissing)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -ErrorAction Stop } -ErrorId TemplateValueMissing
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable @{ tier = 'large' } -ErrorAction Stop } -ErrorId TemplateValueMissing
        }

        It 'lets template values win over -ResourceArgs' {
            $spec = Get-SpecOf (Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable @{ cpus = 2 } -ResourceArgs @{ env = @{ CPUS = '99'; EXTRA = 'x' } })
            $spec.resource_args.'local-process'.env.CPUS | Should -Be 2
            $spec.resource_args.'local-process'.env.EXTRA | Should -Be 'x'
        }

        It 'validates template values under -WhatIf too' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue tmpl -Uri $code -EntryPoint true -TemplateVariable @{ cpus = 99 } -WhatIf -ErrorAction Stop } -ErrorId InvalidTemplateValue
        }
    }

    Context '-ResourceArgs' {
        It 'takes the bare arguments for the queue''s resource and merges them over the queue''s configuration' {
            $env = (Get-SpecOf (Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -ResourceArgs @{ env = @{ FOO = 'bar'; BASE = 'job' } })).resource_args.'local-process'.env
            $env.FOO | Should -Be 'bar'
            $env.BASE | Should -Be 'job'
            $env.KEEP | Should -Be 'queue'
        }

        It 'takes the wrapped form {"local-process": {...}}' {
            $env = (Get-SpecOf (Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -ResourceArgs @{ 'local-process' = @{ env = @{ FOO = 'wrapped' } } })).resource_args.'local-process'.env
            $env.FOO | Should -Be 'wrapped'
            $env.KEEP | Should -Be 'queue'
        }

        It 'takes JSON and YAML text, bare or wrapped' {
            (Get-SpecOf (Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -ResourceArgs '{"env": {"FOO": "json"}}')).resource_args.'local-process'.env.FOO | Should -Be 'json'
            (Get-SpecOf (Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -ResourceArgs "local-process:`n  env:`n    FOO: yaml`n")).resource_args.'local-process'.env.FOO | Should -Be 'yaml'
        }

        It 'refuses arguments that are not a mapping (InvalidResourceArgs)' {
            Assert-SubmitRefused { Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -ResourceArgs 'just text' -ErrorAction Stop } -ErrorId InvalidResourceArgs
        }
    }

    Context 'pipeline and -WhatIf' {
        It 'takes the queue from Get-WandbLaunchQueue through the pipeline' {
            $job = Get-WandbLaunchQueue plain | Submit-WandbLaunchJob -Uri $code -EntryPoint true -Name piped
            $job.Queue | Should -Be 'plain'
            $job.Name | Should -Be 'piped'
            $jobs = @(Get-WandbLaunchQueue plain, prio | Submit-WandbLaunchJob -Uri $code -EntryPoint true -Name piped-two)
            $jobs.Queue | Should -Be @('plain', 'prio')
        }

        It 'stores nothing under -WhatIf' {
            $before = @(Get-WandbLaunchJob).Count
            $out = Submit-WandbLaunchJob -Queue plain -Uri $code -EntryPoint true -WhatIf
            $out | Should -BeNullOrEmpty
            Get-WandbLaunchQueue plain | Submit-WandbLaunchJob -Uri $code -EntryPoint true -Priority Medium -WhatIf | Should -BeNullOrEmpty
            @(Get-WandbLaunchJob).Count | Should -Be $before
        }
    }
}

Describe 'Inspecting and controlling jobs' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name work -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name idle -Resource local-process | Out-Null
        $script:agent = Start-TestAgent -Queue work -MaxJobs 4 -Name jobs-agent
    }
    AfterAll {
        Stop-TestAgent $script:agent
    }

    Context 'Get-WandbLaunchJob' {
        It 'filters by -Queue, -Id, -State and -Newest' {
            New-WandbLaunchQueue -Name list1 -Resource local-process | Out-Null
            New-WandbLaunchQueue -Name list2 -Resource local-process | Out-Null
            $one = 1..3 | ForEach-Object { Submit-WandbLaunchJob -Queue list1 -Uri $code -EntryPoint true -Name "one-$_" }
            $two = 1..2 | ForEach-Object { Submit-WandbLaunchJob -Queue list2 -Uri $code -EntryPoint true -Name "two-$_" }

            (Get-WandbLaunchJob -Queue list1).Id | Should -Be $one.Id
            (Get-WandbLaunchJob list2).Id | Should -Be $two.Id
            @(Get-WandbLaunchJob -Queue list1, list2).Count | Should -Be 5
            (Get-WandbLaunchJob -Id $one[1].Id).Name | Should -Be 'one-2'
            (Get-WandbLaunchJob -Id $two[0].Id, $one[2].Id).Name | Sort-Object | Should -Be @('one-3', 'two-1')

            Stop-WandbLaunchJob -Id $one[0].Id
            (Get-WandbLaunchJob -Queue list1 -State Stopped).Id | Should -Be $one[0].Id
            (Get-WandbLaunchJob -Queue list1 -State Pending).Id | Should -Be $one[1..2].Id
            (Get-WandbLaunchJob -Queue list1 -State Pending, Stopped).Count | Should -Be 3

            (Get-WandbLaunchJob -Queue list1 -Newest 2).Id | Should -Be $one[1..2].Id
            (Get-WandbLaunchJob -Queue list1, list2 -Newest 1).Id | Should -Be @($one[2].Id, $two[1].Id)
            (Get-WandbLaunchQueue list2 | Get-WandbLaunchJob).Id | Should -Be $two.Id
            ($two | Get-WandbLaunchJob).Id | Should -Be $two.Id -Because 'jobs from the pipeline are refreshed by Id'
        }

        It 'reports an unknown id (JobNotFound) and an unknown queue (QueueNotFound)' {
            { Get-WandbLaunchJob -Id item-doesnotexist -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,WandbLaunch.Jobs.GetWandbLaunchJobCommand'
            { Get-WandbLaunchJob -Queue no-such-queue -ErrorAction Stop } | Should -Throw -ErrorId 'QueueNotFound,WandbLaunch.Jobs.GetWandbLaunchJobCommand'
        }
    }

    Context 'Stop-WandbLaunchJob' {
        It 'stops pending jobs from the pipeline (queue | jobs | stop) and they never run' {
            New-WandbLaunchQueue -Name pipe -Resource local-process | Out-Null
            New-WandbLaunchQueue -Name keep -Resource local-process | Out-Null
            $markers = 1..3 | ForEach-Object { Join-Path $scratch "pipe-ran-$_" }
            $jobs = $markers | ForEach-Object { Submit-WandbLaunchJob -Queue pipe -Uri $code -EntryPoint sh -Arguments '-c', 'touch "$1"', 'sh', $_ }
            $kept = Submit-WandbLaunchJob -Queue keep -Uri $code -EntryPoint true

            Get-WandbLaunchQueue pipe | Get-WandbLaunchJob -State Pending | Stop-WandbLaunchJob

            foreach ($job in Get-WandbLaunchJob -Id $jobs.Id) {
                $job.State | Should -Be 'Stopped'
                $job.StopRequested | Should -BeTrue
                $job.FinishedAt | Should -Not -BeNullOrEmpty
            }
            (Get-WandbLaunchJob -Id $kept.Id).State | Should -Be 'Pending' -Because 'only the piped queue''s jobs were stopped'
            (Get-WandbLaunchQueue pipe).PendingCount | Should -Be 0

            # Now serve the queue: a job submitted after them runs, the stopped ones never do.
            $pipeAgent = Start-TestAgent -Queue pipe
            try {
                $sentinel = Submit-WandbLaunchJob -Queue pipe -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
                $sentinel.State | Should -Be 'Finished'
            }
            finally { Stop-TestAgent $pipeAgent }
            foreach ($job in Get-WandbLaunchJob -Id $jobs.Id) {
                $job.State | Should -Be 'Stopped'
                $job.Attempts | Should -Be 0
                $job.StartedAt | Should -BeNullOrEmpty
                $job.AgentId | Should -BeNullOrEmpty
            }
            $markers | ForEach-Object { $_ | Should -Not -Exist }
        }

        It 'warns about a job that already ended, and -PassThru writes it' {
            $job = Submit-WandbLaunchJob -Queue idle -Uri $code -EntryPoint true
            Stop-WandbLaunchJob -Id $job.Id
            $out = Stop-WandbLaunchJob -Id $job.Id -PassThru -WarningVariable warned -WarningAction SilentlyContinue
            $warned | Should -HaveCount 1
            "$warned" | Should -BeLike "*already Stopped*"
            $out.State | Should -Be 'Stopped'
        }

        It 'has the agent kill a running job''s whole process tree; the job ends Stopped' {
            $pidFile = Join-Path $scratch 'tree-child.pid'
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', 'sleep 300 & echo $! > "$1"; echo started; wait', 'sh', $pidFile
            Wait-Until { (Test-Path $pidFile) -and (Get-Content $pidFile) } -TimeoutSeconds 30 -Because 'the job to start its child'
            $running = Get-WandbLaunchJob -Id $job.Id
            $running.State | Should -Be 'Running'
            $shellPid = Get-JobProcessId $running
            $childPid = [int](Get-Content $pidFile)
            Test-ProcessAlive $shellPid | Should -BeTrue
            Test-ProcessAlive $childPid | Should -BeTrue

            $stopped = Stop-WandbLaunchJob -Id $job.Id -Wait -PassThru
            $stopped.State | Should -Be 'Stopped'
            $stopped.FailureMessage | Should -BeLike '*Stop-WandbLaunchJob*'
            $stopped.FinishedAt | Should -Not -BeNullOrEmpty
            Wait-Until { -not (Test-ProcessAlive $shellPid) -and -not (Test-ProcessAlive $childPid) } -TimeoutSeconds 10 -Because 'the job''s process tree to be killed'
        }
    }

    Context 'Wait-WandbLaunchJob' {
        It 'times out on a job that does not end (JobWaitTimeout)' {
            $job = Submit-WandbLaunchJob -Queue idle -Uri $code -EntryPoint true
            $clock = [Diagnostics.Stopwatch]::StartNew()
            { Wait-WandbLaunchJob -Id $job.Id -Timeout 1 -ErrorAction Stop } | Should -Throw -ErrorId 'JobWaitTimeout,WandbLaunch.Jobs.WaitWandbLaunchJobCommand'
            $clock.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.9
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
            (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Pending'
        }

        It 'waits for submitted jobs from the pipeline and writes them finished' {
            $done = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            $done.State | Should -Be 'Finished'
            $done.ExitCode | Should -Be 0
            $done.Attempts | Should -Be 1
            $done.AgentId | Should -Be $agent.AgentId
            $done.FailureStage | Should -BeNullOrEmpty
            $done.LeasedAt | Should -Not -BeNullOrEmpty
            $done.StartedAt | Should -BeGreaterOrEqual $done.LeasedAt
            $done.FinishedAt | Should -BeGreaterOrEqual $done.StartedAt
            $done.Duration | Should -BeOfType [timespan]

            $many = @(1..3 | ForEach-Object { Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', "sleep 0.$_" } | Wait-WandbLaunchJob -Timeout 30)
            $many.Count | Should -Be 3
            $many.State | Sort-Object -Unique | Should -Be 'Finished'
        }
    }

    Context 'Remove-WandbLaunchJob' {
        It 'refuses pending and running jobs (JobActive) and removes finished ones with their log' {
            $pending = Submit-WandbLaunchJob -Queue idle -Uri $code -EntryPoint true
            { Remove-WandbLaunchJob -Id $pending.Id -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'JobActive,WandbLaunch.Jobs.RemoveWandbLaunchJobCommand'
            (Get-WandbLaunchJob -Id $pending.Id).State | Should -Be 'Pending'

            $running = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sleep -Arguments 300
            Wait-Until { (Get-WandbLaunchJob -Id $running.Id).State -eq 'Running' } -Because 'the job to run'
            { Remove-WandbLaunchJob -Id $running.Id -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'JobActive,WandbLaunch.Jobs.RemoveWandbLaunchJobCommand'
            (Stop-WandbLaunchJob -Id $running.Id -Wait -PassThru).State | Should -Be 'Stopped'

            $finished = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint echo -Arguments hello | Wait-WandbLaunchJob -Timeout 30
            $finished.LogPath | Should -Exist
            "$($finished.LogPath).cursor" | Should -Exist -Because 'the agent noted the end after the output'
            $finished, (Get-WandbLaunchJob -Id $running.Id) | Remove-WandbLaunchJob -Confirm:$false
            $finished.LogPath | Should -Not -Exist
            "$($finished.LogPath).cursor" | Should -Not -Exist
            { Get-WandbLaunchJob -Id $finished.Id -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,WandbLaunch.Jobs.GetWandbLaunchJobCommand'
            { Get-WandbLaunchJob -Id $running.Id -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,WandbLaunch.Jobs.GetWandbLaunchJobCommand'
        }

        It 'removes nothing under -WhatIf' {
            $finished = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint true | Wait-WandbLaunchJob -Timeout 30
            Remove-WandbLaunchJob -Id $finished.Id -WhatIf
            (Get-WandbLaunchJob -Id $finished.Id).State | Should -Be 'Finished'
        }
    }

    Context 'Get-WandbLaunchJobLog' {
        It 'returns the job''s output after the agent''s notes, and -Tail the last lines' {
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', 'for i in 1 2 3 4 5; do echo "out $i"; done; echo "err line" >&2' | Wait-WandbLaunchJob -Timeout 30
            $log = @(Get-WandbLaunchJobLog -Id $job.Id)
            $log[0] | Should -BeLike '`[agent`]*took the job*'
            $output = $log | Where-Object { $_ -notlike '`[agent`]*' }
            $output | Where-Object { $_ -like 'out *' } | Should -Be @('out 1', 'out 2', 'out 3', 'out 4', 'out 5')
            $output | Should -Contain 'err line'
            $log[-1] | Should -Be '[agent] finished (exit code 0)'
            Get-WandbLaunchJobLog -Id $job.Id -Tail 2 | Should -Be $log[-2..-1]
            $job | Get-WandbLaunchJobLog -Tail 1 | Should -Be $log[-1]
        }

        It 'writes nothing for a pending job' {
            $job = Submit-WandbLaunchJob -Queue idle -Uri $code -EntryPoint true
            Get-WandbLaunchJobLog -Id $job.Id | Should -BeNullOrEmpty
        }

        It 'streams lines with -Follow as they are written and returns when the job ends' {
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', 'for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.4; done'
            $seen = Get-WandbLaunchJobLog -Id $job.Id -Follow | ForEach-Object { [pscustomobject]@{ Line = $_; At = [DateTime]::UtcNow } }
            $ended = [DateTime]::UtcNow
            (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Finished' -Because '-Follow returns once the job has ended'
            ($seen.Line | Where-Object { $_ -like 'tick *' }) | Should -Be @('tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5')
            $seen[-1].Line | Should -Be '[agent] finished (exit code 0)'
            $first = ($seen | Where-Object Line -EQ 'tick 1').At
            ($ended - $first).TotalSeconds | Should -BeGreaterThan 1.0 -Because 'the first line arrived while the job was still running'
        }
    }

    Context 'outcomes' {
        It 'records a failed run: exit code, stage run and the last output lines' {
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', 'echo "step one"; echo "step two"; echo "boom: out of memory" >&2; exit 3' | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Failed'
            $job.ExitCode | Should -Be 3
            $job.FailureStage | Should -Be 'run'
            $job.FailureMessage | Should -BeLike '*exited with code 3*'
            $job.FailureMessage | Should -BeLike '*boom: out of memory*'
            $job.FailureMessage | Should -BeLike '*step two*'
        }

        It 'fails a job whose program does not exist at stage run' {
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint no-such-program-wbl | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Failed'
            $job.FailureStage | Should -Be 'run'
            $job.FailureMessage | Should -BeLike "*Could not start 'no-such-program-wbl'*"
        }

        It 'refuses, before storing anything, a job without an entry point and a docker image job (JobCannotRun)' {
            $before = @(Get-WandbLaunchJob -Queue work).Count
            { Submit-WandbLaunchJob -Queue work -Uri $code -ErrorAction Stop } |
                Should -Throw -ErrorId 'JobCannotRun,WandbLaunch.Jobs.SubmitWandbLaunchJobCommand' -ExpectedMessage '*stage agent*no entry point*'
            { Submit-WandbLaunchJob -Queue work -DockerImage 'img:1' -EntryPoint true -ErrorAction Stop } |
                Should -Throw -ErrorId 'JobCannotRun,WandbLaunch.Jobs.SubmitWandbLaunchJobCommand' -ExpectedMessage '*local-container*'
            @(Get-WandbLaunchJob -Queue work).Count | Should -Be $before
        }
    }

    Context 'local directories' {
        It 'runs in the code directory, so relative paths in the entry point work' {
            $dir = New-TestDirectory
            Set-Content (Join-Path $dir 'train.sh') 'echo "trained in $(pwd)"'
            $job = Submit-WandbLaunchJob -Queue work -Uri $dir -EntryPoint sh, train.sh | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            Get-WandbLaunchJobLog -Id $job.Id | Should -Contain "trained in $dir"
        }

        It 'runs in overrides.working_dir under the code directory' {
            $dir = New-TestDirectory
            New-Item -ItemType Directory (Join-Path $dir 'src') | Out-Null
            Set-Content (Join-Path $dir 'src/main.sh') 'echo "main in $(pwd)"'
            $job = Submit-WandbLaunchJob -Queue work -Spec @{ uri = $dir; overrides = @{ working_dir = 'src'; entry_point = @('sh', 'main.sh') } } | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            Get-WandbLaunchJobLog -Id $job.Id | Should -Contain "main in $(Join-Path $dir 'src')"
        }

        It 'fails at stage agent when the directory is gone by the time the job runs' {
            $dir = New-TestDirectory
            $job = Submit-WandbLaunchJob -Queue idle -Uri $dir -EntryPoint true
            Remove-Item $dir
            # Move the pending job to the served queue by submitting its spec there.
            $moved = Submit-WandbLaunchJob -Queue work -Spec $job.SpecJson | Wait-WandbLaunchJob -Timeout 30
            $moved.State | Should -Be 'Failed'
            $moved.FailureStage | Should -Be 'agent'
            $moved.FailureMessage | Should -BeLike "*'$dir' does not exist*"
        }
    }

    Context 'the job''s environment' {
        It 'gives the job W&B''s environment variables' {
            # A queue object keeps its own entity; -Entity then names only the run's entity.
            $job = Get-WandbLaunchQueue work | Submit-WandbLaunchJob -Uri $code -EntryPoint env -Name env-run -Project proj-x -Entity ent-y -RunConfig @{ lr = 0.25; layers = @(1, 2) } |
                Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            $vars = Get-LogEnvironment $job.Id
            $vars.WANDB_RUN_ID | Should -Be $job.RunId
            $vars.WANDB_LAUNCH_QUEUE_NAME | Should -Be 'work'
            $vars.WANDB_LAUNCH_TRACE_ID | Should -Be $job.Id
            $vars.WANDB_LAUNCH | Should -BeExactly 'True'
            $vars.WANDB_NAME | Should -Be 'env-run'
            $vars.WANDB_PROJECT | Should -Be 'proj-x'
            $vars.WANDB_ENTITY | Should -Be 'ent-y'
            $vars.WANDB_USERNAME | Should -Be ([Environment]::UserName)
            $vars.WANDB_BASE_URL | Should -Be 'https://api.wandb.ai'
            $vars.ContainsKey('WANDB_RESUME') | Should -BeFalse
            $config = $vars.WANDB_CONFIG | ConvertFrom-Json -AsHashtable
            $config.lr | Should -Be 0.25
            $config.layers | Should -Be @(1, 2)
        }

        It 'splits a value longer than 32,670 characters into NAME_0..NAME_N' {
            $blob = -join (1..70000 | ForEach-Object { [char](97 + $_ % 26) })
            $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint env -RunConfig @{ blob = $blob } | Wait-WandbLaunchJob -Timeout 30
            $job.State | Should -Be 'Finished'
            $vars = Get-LogEnvironment $job.Id
            $vars.ContainsKey('WANDB_CONFIG') | Should -BeFalse
            $vars.WANDB_CONFIG_0.Length | Should -Be 32670
            $vars.WANDB_CONFIG_1.Length | Should -Be 32670
            $vars.ContainsKey('WANDB_CONFIG_2') | Should -BeTrue
            $vars.ContainsKey('WANDB_CONFIG_3') | Should -BeFalse
            ($vars.WANDB_CONFIG_0 + $vars.WANDB_CONFIG_1 + $vars.WANDB_CONFIG_2 | ConvertFrom-Json).blob | Should -BeExactly $blob
        }

        It 'substitutes macros in resource_args (run id, project, the agent''s environment) and keeps unknown ones' {
            $env:WBL_MACRO_TEST = 'from-agent-env'
            try {
                $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint env -Project macro-proj -Name macro-run -ResourceArgs @{
                    env = @{
                        M_RUN = 'run-${run_id}'; M_PROJECT = '${project_name}'; M_NAME = '${run_name}'; M_ENTITY = '${entity_name}'
                        M_AGENT_ENV = '${WBL_MACRO_TEST}'; M_UNKNOWN = '${no_such_macro_wbl}'; M_AUTHOR = '${author}'
                    }
                } | Wait-WandbLaunchJob -Timeout 30
            }
            finally { Remove-Item env:WBL_MACRO_TEST }
            $job.State | Should -Be 'Finished'
            $vars = Get-LogEnvironment $job.Id
            $vars.M_RUN | Should -Be "run-$($job.RunId)"
            $vars.M_PROJECT | Should -Be 'macro-proj'
            $vars.M_NAME | Should -Be 'macro-run'
            $vars.M_ENTITY | Should -Be $job.Entity
            $vars.M_AUTHOR | Should -Be ([Environment]::UserName)
            $vars.M_AGENT_ENV | Should -Be 'from-agent-env'
            $vars.M_UNKNOWN | Should -BeExactly '${no_such_macro_wbl}'
            (Get-SpecOf $job).resource_args.'local-process'.env.M_RUN | Should -BeExactly 'run-${run_id}' -Because 'the stored spec keeps the macros; the agent substitutes them when it runs the job'
        }

        It 'gives the job the agent''s WANDB_API_KEY but never shows it in the log or failure message' {
            $key = 'wbl-secret-' + [guid]::NewGuid().ToString('n')
            $keyFile = Join-Path $scratch 'key-seen'
            $env:WANDB_API_KEY = $key
            try {
                $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint sh -Arguments '-c', 'echo "key is $WANDB_API_KEY"; env; printf %s "$WANDB_API_KEY" > "$1"; echo "last: $WANDB_API_KEY"; exit 1', 'sh', $keyFile |
                    Wait-WandbLaunchJob -Timeout 30
            }
            finally { Remove-Item env:WANDB_API_KEY }
            Get-Content $keyFile -Raw | Should -BeExactly $key -Because 'the job itself gets the real key'
            $log = Get-Content $job.LogPath -Raw
            $log | Should -Not -BeLike "*$key*"
            $log | Should -BeLike '*key is `*`*`**'
            Get-WandbLaunchJobLog -Id $job.Id | Should -Contain 'WANDB_API_KEY=***'
            $job.State | Should -Be 'Failed'
            $job.FailureMessage | Should -BeLike '*last: `*`*`**'
            $job.FailureMessage | Should -Not -BeLike "*$key*"
        }
    }
}

Describe 'Git sources and the start timeout' {
    BeforeDiscovery {
        $script:noPython = -not (Get-Command python3 -ErrorAction SilentlyContinue)
    }
    BeforeAll {
        New-TestStore | Out-Null
        $script:root = New-TestDirectory
        $git = { param([Parameter(ValueFromRemainingArguments)] $GitArgs) & git -c user.name=wbl -c user.email=wbl@example.com @GitArgs 2>&1; if ($LASTEXITCODE) { throw "git $GitArgs failed" } }

        # A repository with a tag v1 (main.sh prints v1) and a newer commit (main.sh prints v2), served read-only over
        # https on loopback (git's "dumb" HTTP protocol from a static file server with a self-signed certificate).
        $work = Join-Path $root 'work'
        & $git init -q $work
        Set-Content (Join-Path $work 'main.sh') 'echo "code v1 in $(pwd)"'
        & $git -C $work add main.sh
        & $git -C $work commit -q -m one
        & $git -C $work tag v1
        Set-Content (Join-Path $work 'main.sh') 'echo "code v2"'
        & $git -C $work commit -q -a -m two
        & $git clone -q --bare $work (Join-Path $root 'srv/repo.git')
        & $git -C (Join-Path $root 'srv/repo.git') update-server-info

        $rsa = [Security.Cryptography.RSA]::Create(2048)
        $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=127.0.0.1', $rsa,
            [Security.Cryptography.HashAlgorithmName]::SHA256, [Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $san = [Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
        $san.AddIpAddress([ipaddress]::Loopback)
        $request.CertificateExtensions.Add($san.Build())
        $request.CertificateExtensions.Add([Security.Cryptography.X509Certificates.X509BasicConstraintsExtension]::new($true, $false, 0, $true))
        $cert = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(1))
        $script:certPath = Join-Path $root 'cert.pem'
        Set-Content $certPath $cert.ExportCertificatePem()
        Set-Content (Join-Path $root 'key.pem') $rsa.ExportPkcs8PrivateKeyPem()
        Set-Content (Join-Path $root 'server.py') @'
import functools, http.server, os, ssl, sys
root, cert, key, portfile = sys.argv[1:5]
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=root))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(portfile + '.tmp', 'w') as f: f.write(str(server.server_address[1]))
os.replace(portfile + '.tmp', portfile)
server.serve_forever()
'@
        $script:server = $null
        if (Get-Command python3 -ErrorAction SilentlyContinue) {
            $portFile = Join-Path $root 'port'
            $script:server = Start-Process python3 -ArgumentList (Join-Path $root 'server.py'), (Join-Path $root 'srv'), $certPath, (Join-Path $root 'key.pem'), $portFile `
                -RedirectStandardError (Join-Path $root 'server.err') -RedirectStandardOutput (Join-Path $root 'server.out') -PassThru
            Wait-Until { Test-Path $portFile } -TimeoutSeconds 20 -Because 'the https server to listen'
            $script:gitUrl = "https://127.0.0.1:$(Get-Content $portFile)/repo.git"
        }

        # A TCP port that accepts connections and never answers: a TLS handshake (so a clone) there never finishes.
        $script:hang = [Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $hang.Start()
        $script:hangUrl = "https://127.0.0.1:$($hang.LocalEndpoint.Port)/never.git"

        # The agent's environment: git trusts the test certificate (as a user would configure it for a private server).
        $script:savedCaInfo = $env:GIT_SSL_CAINFO
        $env:GIT_SSL_CAINFO = $certPath
        New-WandbLaunchQueue -Name git -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name slow -Resource local-process | Out-Null
        $script:gitAgent = Start-TestAgent -Queue git -MaxJobs 2
        $env:WANDB_LAUNCH_START_TIMEOUT = '2'
        try { $script:slowAgent = Start-TestAgent -Queue slow -MaxJobs 2 }
        finally { Remove-Item env:WANDB_LAUNCH_START_TIMEOUT }
    }
    AfterAll {
        Stop-TestAgent $gitAgent
        Stop-TestAgent $slowAgent
        if ($server) { Stop-Process -Id $server.Id -Force -ErrorAction SilentlyContinue }
        $hang.Stop()
        $env:GIT_SSL_CAINFO = $savedCaInfo
    }

    It 'clones an https git source and runs the entry point in the clone' -Skip:$noPython {
        $job = Submit-WandbLaunchJob -Queue git -Uri $gitUrl -EntryPoint sh, main.sh | Wait-WandbLaunchJob -Timeout 60
        $job.State | Should -Be 'Finished'
        $log = Get-WandbLaunchJobLog -Id $job.Id
        $log | Should -Contain 'code v2'
        $log | Should -Contain "[agent] git clone $gitUrl"
    }

    It 'checks out -GitVersion' -Skip:$noPython {
        $job = Submit-WandbLaunchJob -Queue git -Uri $gitUrl -GitVersion v1 -EntryPoint sh, main.sh | Wait-WandbLaunchJob -Timeout 60
        $job.State | Should -Be 'Finished'
        $line = Get-WandbLaunchJobLog -Id $job.Id | Where-Object { $_ -like 'code v1 in *' }
        $line | Should -Not -BeNullOrEmpty
        $line | Should -BeLike "*$($job.RunId)*" -Because 'each run gets its own clone'
        $clone = ($line -replace '^code v1 in ', '').Trim()
        $clone | Should -BeLike '/*'
        Wait-Until { -not (Test-Path -LiteralPath $clone) } -TimeoutSeconds 10 -Because 'the clone is deleted when the job ends'
        Test-Path -LiteralPath (Split-Path $clone) | Should -BeFalse -Because 'nothing of the run is left under runs/'
    }

    It 'fails at stage build when the clone fails' -Skip:$noPython {
        $job = Submit-WandbLaunchJob -Queue git -Uri ($gitUrl -replace 'repo\.git$', 'missing.git') -EntryPoint sh, main.sh | Wait-WandbLaunchJob -Timeout 60
        $job.State | Should -Be 'Failed'
        $job.FailureStage | Should -Be 'build'
        $job.FailureMessage | Should -BeLike '*git clone failed*'
        $job.StartedAt | Should -BeNullOrEmpty
    }

    It 'stops a job that is still starting (its clone is killed)' {
        $job = Submit-WandbLaunchJob -Queue git -Uri $hangUrl -EntryPoint sh, main.sh
        Wait-Until { (Get-WandbLaunchJobLog -Id $job.Id) -like '`[agent`] git clone*' } -TimeoutSeconds 30 -Because 'the clone to start'
        (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Starting'
        $stopped = Stop-WandbLaunchJob -Id $job.Id -Wait -PassThru
        $stopped.State | Should -Be 'Stopped'
        $stopped.StartedAt | Should -BeNullOrEmpty
        $port = $hang.LocalEndpoint.Port
        Wait-Until {
            -not (Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -Match '^\d+$' | Where-Object {
                (Get-Content "/proc/$($_.Name)/cmdline" -Raw -ErrorAction SilentlyContinue) -like "*127.0.0.1:$port*" -and (Test-ProcessAlive ([int]$_.Name))
            })
        } -TimeoutSeconds 10 -Because 'the clone to be killed'
    }

    It 'cancels and fails (stage agent) a job that does not start within WANDB_LAUNCH_START_TIMEOUT' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $job = Submit-WandbLaunchJob -Queue slow -Uri $hangUrl -EntryPoint sh, main.sh | Wait-WandbLaunchJob -Timeout 60
        $clock.Stop()
        $job.State | Should -Be 'Failed'
        $job.FailureStage | Should -Be 'agent'
        $job.FailureMessage | Should -BeLike '*did not start within 2 s (WANDB_LAUNCH_START_TIMEOUT)*'
        $job.StartedAt | Should -BeNullOrEmpty
        $clock.Elapsed.TotalSeconds | Should -BeGreaterThan 1.9
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 20
        # The stuck clone was killed with it.
        $port = $hang.LocalEndpoint.Port
        $clones = Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -Match '^\d+$' | Where-Object {
            (Get-Content "/proc/$($_.Name)/cmdline" -Raw -ErrorAction SilentlyContinue) -like "*127.0.0.1:$port*" -and (Test-ProcessAlive ([int]$_.Name))
        }
        $clones | Should -BeNullOrEmpty
    }
}
