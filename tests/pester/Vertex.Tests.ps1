# Vertex AI queues as users meet them in pwsh: W&B's resource names, submit's refusal of a config Vertex would reject,
# and the CustomJob a job's manifest preview shows (no Google service is contacted).

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force
    $script:SubmitId = 'WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'
    $script:Image = 'us-central1-docker.pkg.dev/ml-project/launch/train:abc123'
    $script:Typical = @'
spec:
  worker_pool_specs:
    - machine_spec: {machine_type: n1-standard-4, accelerator_type: NVIDIA_TESLA_T4, accelerator_count: 1}
      replica_count: 1
      container_spec: {image_uri: "${image_uri}"}
  staging_bucket: gs://ml-staging
run: {timeout: 3600}
'@
}

Describe 'Vertex AI queues' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:Dir = New-TestDirectory
        $script:Config = Join-Path $Dir 'launch-config.yaml'
        Set-Content -Path $Config -Value "environment:`n  type: gcp`n  region: europe-west4`n  project: ml-project`n"
    }

    It 'takes W&B''s other resource name vertex as gcp-vertex' {
        (New-WandbLaunchQueue -Name vertex -Resource vertex -Configuration $Typical).Resource | Should -BeExactly 'gcp-vertex'
    }

    It 'queues a job on a config Vertex accepts' {
        $job = Submit-WandbLaunchJob -Queue vertex -DockerImage $Image -EntryPoint python, train.py
        $job.State | Should -Be 'Pending'
    }

    It 'refuses a config Vertex would reject, naming the field, and stores nothing (InvalidVertexConfig)' {
        New-WandbLaunchQueue -Name vertex-bad -Resource gcp-vertex -Configuration ($Typical -replace 'NVIDIA_TESLA_T4', 'NVIDIA_TESLA_X1') | Out-Null
        $before = @(Get-WandbLaunchJob).Count
        $thrown = $null
        try { Submit-WandbLaunchJob -Queue vertex-bad -DockerImage $Image -ErrorAction Stop | Out-Null } catch { $thrown = $_ }
        $thrown.FullyQualifiedErrorId | Should -BeExactly "InvalidVertexConfig,$SubmitId"
        $thrown.Exception.Message | Should -BeLike '*machine_spec.accelerator_type*NVIDIA_TESLA_X1*'
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }

    # runner/vertex_runner.py reads only the spec and run keys it names; the rest is dropped without a word.
    It 'queues a job whose config has a key W&B does not read, with a warning naming it, and -WarningAction Stop refuses it' {
        New-WandbLaunchQueue -Name vertex-extra -Resource gcp-vertex -Configuration ($Typical -replace 'run: \{timeout: 3600\}', 'run: {timeout: 3600, region: us-east1}') | Out-Null
        $job = Submit-WandbLaunchJob -Queue vertex-extra -DockerImage $Image -WarningVariable warned -WarningAction SilentlyContinue
        $job.State | Should -Be 'Pending'
        @($warned).Count | Should -Be 1
        "$($warned[0])" | Should -BeLike "resource_args.gcp-vertex.run.region is not read by W&B's Vertex runner and is dropped*"
        $before = @(Get-WandbLaunchJob).Count
        { Submit-WandbLaunchJob -Queue vertex-extra -DockerImage $Image -WarningAction Stop } | Should -Throw
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }

    It 'previews the CustomJob request in the agent''s region with the API key hidden' {
        $env:WANDB_API_KEY = 'local-0123456789abcdef0123456789abcdef01234567'
        try {
            $manifest = Get-WandbLaunchJobManifest -Queue vertex -DockerImage $Image -EntryPoint python, train.py -ConfigPath $Config
        }
        finally { Remove-Item Env:WANDB_API_KEY }
        $manifest.Summary | Should -BeLike 'CustomJob * in projects/ml-project/locations/europe-west4 (1 worker pool)'
        $manifest.Text | Should -BeLike '*POST https://europe-west4-aiplatform.googleapis.com/v1/projects/ml-project/locations/europe-west4/customJobs*'
        $manifest.Text | Should -BeLike "*`"imageUri`": `"$Image`"*"
        $manifest.Text | Should -Not -BeLike '*0123456789abcdef0123456789abcdef*'
    }
}
