# One provider per region. eu-west-2 is the primary: core, the primary bucket, the tables'
# original replica and the only sync that publishes documents live there.

provider "aws" {
  region = "eu-west-2"
}

provider "aws" {
  alias  = "eu_west_2"
  region = "eu-west-2"
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

provider "aws" {
  alias  = "ap_southeast_1"
  region = "ap-southeast-1"
}
